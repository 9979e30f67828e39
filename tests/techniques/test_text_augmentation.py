"""`ablate.techniques.text_augmentation`: synonym sources, the four EDA operations, composition."""

import re
import sys
from collections import Counter

import numpy as np
import pytest

from ablate.errors import InputError
from ablate.techniques.text_augmentation import (
    STOP_WORDS,
    augment_texts,
    eda_sentence,
    load_synonyms,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
)

THESAURUS = """\
# a tiny thesaurus for the tests
good: great, fine
film: movie, picture
actor: performer, player
plot: story, storyline
scene: shot
music: score, soundtrack
ending: finale, conclusion
cast: ensemble
director: filmmaker
script: screenplay
"""
# Ten distinct words, none a stop word, each with a synonym.
SENTENCE = "good film actor plot scene music ending cast director script"
WORDS = SENTENCE.split()
ONLY = {"alpha_sr": 0.0, "alpha_ri": 0.0, "alpha_rs": 0.0, "p_rd": 0.0}


def match(*parts):
    """A `pytest.raises` pattern matching the literal `parts` in this order."""
    return ".*".join(re.escape(str(part)) for part in parts)


@pytest.fixture
def synonyms(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text(THESAURUS, encoding="utf-8")
    return load_synonyms(str(path))


def only(name: str, value: float) -> dict:
    """EDA parameters enabling the single operation `name`."""
    return {**ONLY, name: value}


# -- load_synonyms from a file ------------------------------------------------------------------


def test_synonyms_file_lookups(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text(
        "# comment\n\nGood: Great, fine, good, great,\nawful: very bad\ngood: decent\n"
        "don't: do not\n",
        encoding="utf-8",
    )
    synonyms = load_synonyms(str(path))
    assert synonyms("good") == ["great", "fine", "decent"]  # merged, no self, no repeat
    assert synonyms("GOOD") == ["great", "fine", "decent"]
    assert synonyms("awful") == ["very bad"]
    assert synonyms("dont") == ["do not"]  # read as TextVectorization reads "don't"
    assert synonyms("unknown") == []
    assert synonyms("great") == []  # not made symmetric


def test_synonyms_file_missing(tmp_path):
    path = tmp_path / "absent.txt"
    with pytest.raises(
        InputError, match=match("`augment.synonyms_path`", f"augment.synonyms_path={path}")
    ):
        load_synonyms(str(path))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("good: great\ngood great\n", "line 2 'good great' (no ':'"),
        ("good film: great\n", "line 1 'good film: great' (expected exactly one word"),
        ("# c\ngood:\n", "line 2 'good:' (no synonym"),
        ("good: good, ,\n", "line 1 'good: good, ,' (no synonym"),
        ("?!: great\n", "line 1 '?!: great' (expected exactly one word"),
        ("# only a comment\n\n", "(no entries)"),
    ],
)
def test_synonyms_file_malformed(tmp_path, text, problem):
    path = tmp_path / "synonyms.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        InputError, match=match("`augment.synonyms_path`", f"synonyms_path={path}", problem)
    ):
        load_synonyms(str(path))


def test_synonyms_file_not_utf8(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_bytes(b"caf\xe9: coffee\n")
    with pytest.raises(InputError, match=match("UTF-8", f"augment.synonyms_path={path}")):
        load_synonyms(str(path))


# -- load_synonyms without a file: real WordNet 3.0, or an error ---------------------------------


@pytest.fixture(scope="module")
def wordnet_synonyms(tmp_path_factory):
    """Synonyms from real nltk over WordNet 3.0 prepared from Debian's `/usr/share/wordnet`.

    Fails (does not skip) without `apt-get install wordnet-base wordnet-sense-index`.
    """
    return load_synonyms(None, wordnet_dir=tmp_path_factory.mktemp("nltk_data"))


def test_wordnet_synonyms(wordnet_synonyms):
    good = wordnet_synonyms("good")
    assert {"full", "estimable", "honorable", "in effect", "trade good", "well"} <= set(good)
    assert len(good) == 36 and good == sorted(good) and "good" not in good
    assert wordnet_synonyms("film") == [
        *("celluloid", "cinema", "flick", "motion picture", "motion picture show", "movie"),
        *("moving picture", "moving picture show", "photographic film", "pic", "picture"),
        *("picture show", "plastic film", "shoot", "take"),
    ]
    # nltk looks up base forms; the text's own word is dropped, the base form kept.
    assert wordnet_synonyms("Films") == sorted(["film", *wordnet_synonyms("film")])
    assert wordnet_synonyms("the") == [] and wordnet_synonyms("xyzzy") == []


def test_eda_with_wordnet_synonyms(wordnet_synonyms):
    texts = np.array(
        ["A good film with a great cast!", "The plot was dull and slow.", "Brilliant music."],
        dtype=object,
    )
    x, y = augment_texts(texts, np.array([1, 0, 1]), wordnet_synonyms, seed=0, num_aug=4)
    assert x.tolist()[3:] == [
        "a good film with a enceinte cast",  # synonym replacement: great -> enceinte
        "commodity a good film with a great cast",  # insertion of a synonym of "good"
        "a great film with a good cast",
        "a good film with a cast",
        "the diagram was dull and slow",  # plot -> diagram
        "the plot was dull and slow up slow",
        "slow plot was dull and the",
        "the plot was and slow",
        "splendid music",  # brilliant -> splendid
        "brilliant music smart as a whip",  # a synonym of several words
        "music brilliant",
        "brilliant music",  # deletion with p_rd = 0.1 deleted nothing
    ]
    assert y.tolist() == [1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]
    assert "enceinte" in wordnet_synonyms("great") and "diagram" in wordnet_synonyms("plot")
    assert {"splendid", "smart as a whip"} <= set(wordnet_synonyms("brilliant"))


def test_no_source_without_debian_wordnet(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError) as error:
        load_synonyms(None, wordnet_dir=tmp_path / "nltk_data", wordnet_source=empty)
    message = str(error.value)
    assert "\n" not in message
    assert re.search(
        match(
            "`augment=eda` needs a synonym source",
            "augment.synonyms_path=None",
            f"none in {empty} (14 of its 14 files missing",
            "`apt-get install wordnet-base wordnet-sense-index`",
            "pass augment.synonyms_path=<file>",
        ),
        message,
    )
    assert not (tmp_path / "nltk_data").exists()


def test_no_source_without_nltk(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nltk", None)  # makes `import nltk` fail
    with pytest.raises(
        InputError,
        match=match(
            "`augment=eda` needs a synonym source",
            "augment.synonyms_path=None and nltk is not installed",
            "`pip install nltk`",
        ),
    ):
        load_synonyms(None, wordnet_dir=tmp_path)


def test_synonyms_file_ignores_wordnet(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text(THESAURUS, encoding="utf-8")
    synonyms = load_synonyms(str(path), wordnet_dir=tmp_path / "unused", wordnet_source=tmp_path)
    assert synonyms("good") == ["great", "fine"]
    assert not (tmp_path / "unused").exists()


# -- the four operations -------------------------------------------------------------------------


def test_synonym_replacement_replaces_exactly_n_words_with_listed_synonyms(synonyms):
    copies = eda_sentence(
        SENTENCE, synonyms, np.random.default_rng(0), num_aug=6, **only("alpha_sr", 0.3)
    )
    assert len(copies) == 6
    for copy in copies:
        new_words = copy.split()
        assert len(new_words) == len(WORDS)
        changed = [(old, new) for old, new in zip(WORDS, new_words, strict=True) if old != new]
        assert len(changed) == 3  # n = int(0.3 * 10)
        assert all(new in synonyms(old) for old, new in changed)


def test_synonym_replacement_skips_stop_words_and_words_without_synonyms(synonyms):
    words = ["the", "good", "film", "of", "a", "very", "strange", "kind"]
    assert {"the", "of", "a", "very"} <= STOP_WORDS
    for seed in range(5):
        new_words = synonym_replacement(words, 10, synonyms, np.random.default_rng(seed))
        assert new_words[0] == "the" and new_words[3:] == words[3:]
        assert new_words[1] in synonyms("good") and new_words[2] in synonyms("film")


def test_synonym_replacement_replaces_every_occurrence(synonyms):
    new_words = synonym_replacement(["good", "good", "the"], 1, synonyms, np.random.default_rng(0))
    assert new_words[0] == new_words[1] and new_words[0] in synonyms("good")


def test_random_insertion_adds_n_synonyms(synonyms):
    copies = eda_sentence(
        SENTENCE, synonyms, np.random.default_rng(1), num_aug=6, **only("alpha_ri", 0.2)
    )
    all_synonyms = {synonym for word in WORDS for synonym in synonyms(word)}
    for copy in copies:
        new_words = copy.split()
        assert len(new_words) == len(WORDS) + 2  # n = int(0.2 * 10)
        added = Counter(new_words) - Counter(WORDS)
        assert sum(added.values()) == 2 and set(added) <= all_synonyms
        originals = iter(new_words)  # the original words keep their order
        assert all(word in originals for word in WORDS)


def test_random_insertion_without_candidates_inserts_nothing(synonyms):
    words = ["the", "unknown", "a"]
    assert random_insertion(words, 3, synonyms, np.random.default_rng(0)) == words


def test_random_swap_keeps_the_multiset(synonyms):
    copies = eda_sentence(
        SENTENCE, synonyms, np.random.default_rng(2), num_aug=6, **only("alpha_rs", 0.3)
    )
    assert all(sorted(copy.split()) == sorted(WORDS) for copy in copies)
    assert any(copy != SENTENCE for copy in copies)
    assert random_swap(["alone"], 3, np.random.default_rng(0)) == ["alone"]


def test_random_deletion_extremes(synonyms):
    copies = eda_sentence(
        SENTENCE, synonyms, np.random.default_rng(3), num_aug=8, **only("p_rd", 1.0)
    )
    assert all(len(copy.split()) == 1 and copy in WORDS for copy in copies)
    assert len(set(copies)) > 1  # the kept word is random
    assert random_deletion(WORDS, 0.0, np.random.default_rng(0)) == WORDS
    assert random_deletion(["alone"], 1.0, np.random.default_rng(0)) == ["alone"]


# -- eda_sentence -------------------------------------------------------------------------------


def test_copies_split_evenly_across_operations_in_order(synonyms):
    copies = eda_sentence(SENTENCE, synonyms, np.random.default_rng(4), num_aug=9)
    lengths = [len(copy.split()) for copy in copies]
    # 9 copies over 4 operations: 3 synonym replacements (n = 1), 2 insertions, 2 swaps,
    # 2 deletions.
    assert lengths[:7] == [10, 10, 10, 11, 11, 10, 10]
    assert all(length <= 10 for length in lengths[7:])
    for copy in copies[:3]:
        assert sum(old != new for old, new in zip(WORDS, copy.split(), strict=True)) == 1
    assert all(sorted(copy.split()) == sorted(WORDS) for copy in copies[5:7])


def test_disabled_operations_are_skipped(synonyms):
    copies = eda_sentence(
        SENTENCE,
        synonyms,
        np.random.default_rng(0),
        num_aug=4,
        alpha_sr=0.0,
        alpha_ri=0.1,
        alpha_rs=0.0,
        p_rd=0.0,
    )
    assert [len(copy.split()) for copy in copies] == [11] * 4


def test_num_aug_copies_and_standardized_output(synonyms):
    rng = np.random.default_rng(0)
    assert len(eda_sentence(SENTENCE, synonyms, rng)) == 4
    assert eda_sentence(SENTENCE, synonyms, rng, num_aug=0) == []
    copies = eda_sentence("The FILM, really!", synonyms, rng, num_aug=4)
    assert all(copy == copy.lower() and "," not in copy and "!" not in copy for copy in copies)
    assert eda_sentence("?!", synonyms, rng, num_aug=3) == ["", "", ""]


def test_eda_sentence_is_fixed_by_the_generator_state(synonyms):
    first = eda_sentence(SENTENCE, synonyms, np.random.default_rng(7), num_aug=8)
    again = eda_sentence(SENTENCE, synonyms, np.random.default_rng(7), num_aug=8)
    other = eda_sentence(SENTENCE, synonyms, np.random.default_rng(8), num_aug=8)
    assert first == again and first != other


# -- augment_texts ------------------------------------------------------------------------------


def test_augment_texts_originals_first_then_copies_in_order(synonyms):
    texts = np.array(["A good film!", "bad plot", "the script and the cast"], dtype=object)
    labels = np.array([1, 0, 1])
    x, y = augment_texts(texts, labels, synonyms, seed=0, num_aug=2)
    assert x.dtype == object and x.shape == (9,) and all(type(t) is str for t in x)
    assert x[:3].tolist() == texts.tolist()  # originals unchanged
    assert y.tolist() == [1, 0, 1, 1, 1, 0, 0, 1, 1]
    rng = np.random.default_rng(0)
    expected = [copy for text in texts for copy in eda_sentence(text, synonyms, rng, num_aug=2)]
    assert x[3:].tolist() == expected


def test_augment_texts_repeats_one_hot_labels(synonyms):
    labels = np.eye(2)[[0, 1]]
    _, y = augment_texts(np.array(["good", "film"]), labels, synonyms, seed=0, num_aug=3)
    assert y.shape == (8, 2)
    np.testing.assert_array_equal(y[2:], np.eye(2)[[0, 0, 0, 1, 1, 1]])


def test_augment_texts_seed_determinism(synonyms):
    texts = np.array([SENTENCE, "good film", "the plot"], dtype=object)
    labels = np.arange(3)
    first, _ = augment_texts(texts, labels, synonyms, seed=3, num_aug=4)
    again, _ = augment_texts(texts, labels, synonyms, seed=3, num_aug=4)
    other, _ = augment_texts(texts, labels, synonyms, seed=4, num_aug=4)
    assert first.tolist() == again.tolist() and first.tolist() != other.tolist()


def test_augment_texts_num_aug_zero_returns_originals(synonyms):
    x, y = augment_texts(np.array(["good"]), np.array([1]), synonyms, seed=0, num_aug=0)
    assert x.tolist() == ["good"] and y.tolist() == [1]


def test_augment_texts_rejects_mismatched_labels(synonyms):
    with pytest.raises(ValueError, match=match("texts.shape=(2,)", "labels.shape=(3,)")):
        augment_texts(np.array(["a", "b"]), np.arange(3), synonyms, seed=0)


@pytest.mark.parametrize(
    ("params", "received"),
    [
        ({"alpha_sr": 1.5}, "augment.alpha_sr=1.5"),
        ({"alpha_ri": -0.1}, "augment.alpha_ri=-0.1"),
        ({"alpha_rs": "0.1"}, "augment.alpha_rs=0.1"),
        ({"p_rd": 2}, "augment.p_rd=2"),
        ({"p_rd": True}, "augment.p_rd=True"),
        ({"num_aug": -1}, "augment.num_aug=-1"),
        ({"num_aug": 2.5}, "augment.num_aug=2.5"),
        ({**ONLY, "num_aug": 2}, "all four 0 with augment.num_aug=2"),
    ],
)
def test_parameter_errors(synonyms, params, received):
    key = next(iter(params)) if len(params) == 1 else "augment.alpha_sr"
    with pytest.raises(InputError, match=match(key, received)):
        augment_texts(np.array(["good film"]), np.array([0]), synonyms, seed=0, **params)
    with pytest.raises(InputError, match=match(key, received)):
        eda_sentence("good film", synonyms, np.random.default_rng(0), **params)


def test_all_operations_off_is_fine_without_copies(synonyms):
    x, _ = augment_texts(np.array(["good"]), np.array([0]), synonyms, seed=0, num_aug=0, **ONLY)
    assert x.tolist() == ["good"]


def test_augment_texts_refuses_a_source_covering_no_word(synonyms):
    texts = np.array(["Un très bon filme?", "the end"], dtype=object)
    with pytest.raises(
        InputError, match=match("`augment.alpha_sr`", "any of the 5 distinct", "2 training texts")
    ):
        augment_texts(texts, np.array([0, 1]), synonyms, seed=0)
    # swap and deletion need no synonym
    x, _ = augment_texts(texts, np.array([0, 1]), synonyms, seed=0, alpha_sr=0, alpha_ri=0)
    assert len(x) == 10
