"""`ablate.techniques.wordnet`: WordNet 3.0 prepared for nltk from Debian's real files.

Needs `apt-get install wordnet-base wordnet-sense-index`; without it these tests fail with
the error users see, they do not skip.
"""

import os
import re
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest

from ablate.errors import InputError
from ablate.techniques.wordnet import (
    DEBIAN_WORDNET_DIR,
    LEXICOGRAPHER_FILES,
    default_wordnet_dir,
    load_wordnet,
    prepare_wordnet,
)

NUM_DATABASE_FILES = 14  # {index,data}.{noun,verb,adj,adv}, *.exc, index.sense, cntlist.rev


def match(*parts):
    """A `pytest.raises` pattern matching the literal `parts` in this order."""
    return ".*".join(re.escape(str(part)) for part in parts)


@pytest.fixture(scope="module")
def wordnet(tmp_path_factory):
    """nltk's reader over WordNet prepared from `/usr/share/wordnet` into a fresh root."""
    return load_wordnet(tmp_path_factory.mktemp("nltk_data"))


def snapshot(corpus: Path) -> dict:
    """Each file of `corpus` with its inode and modification time."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in corpus.iterdir()}


def test_reads_wordnet_3_0_with_every_synset(wordnet):
    assert wordnet.get_version() == "3.0"
    counts, lexnames = Counter(), Counter()
    for synset in wordnet.all_synsets():
        counts[synset.pos()] += 1
        lexnames[synset.lexname()] += 1
        # `lexnames` maps each synset's file number to a file of its own part of speech
        category = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}[synset.pos()]
        assert synset.lexname().startswith(category + "."), synset
    # WordNet 3.0's published counts: 117,659 synsets, 82,115 of them nouns
    assert counts == {"n": 82115, "v": 13767, "a": 7463, "s": 10693, "r": 3621}
    assert set(lexnames) == set(LEXICOGRAPHER_FILES)


def test_real_lookups(wordnet):
    good = {name for synset in wordnet.synsets("good") for name in synset.lemma_names()}
    assert {"full", "estimable", "honorable", "in_effect", "trade_good"} <= good
    assert wordnet.synset("dog.n.01").lexname() == "noun.animal"
    assert wordnet.synset("run.v.01").lexname() == "verb.motion"
    assert wordnet.synset("good.a.01").lexname() == "adj.all"
    assert wordnet.synset("well.r.01").lexname() == "adv.all"
    assert wordnet.morphy("films") == "film"  # noun.exc / morphology
    assert wordnet.lemma_from_key("dog%1:05:00::").name() == "dog"  # index.sense
    assert wordnet.synset("dog.n.01").lemmas()[0].count() == 42  # cntlist.rev


def test_lexicographer_files_table():
    assert len(LEXICOGRAPHER_FILES) == len(set(LEXICOGRAPHER_FILES)) == 45
    assert LEXICOGRAPHER_FILES[:3] == ("adj.all", "adj.pert", "adv.all")
    assert LEXICOGRAPHER_FILES[-1] == "adj.ppl"
    assert {name.split(".")[0] for name in LEXICOGRAPHER_FILES} == {"noun", "verb", "adj", "adv"}


def test_prepare_writes_a_complete_corpus_once(tmp_path):
    corpus = prepare_wordnet(tmp_path)
    assert corpus == tmp_path / "corpora" / "wordnet"
    assert os.listdir(corpus.parent) == ["wordnet"]  # no temporary folder left
    assert len(list(corpus.iterdir())) == NUM_DATABASE_FILES + 1
    assert (corpus / "data.noun").read_bytes() == Path(DEBIAN_WORDNET_DIR, "data.noun").read_bytes()
    assert not (corpus / "data.noun").is_symlink()
    lexnames = (corpus / "lexnames").read_text(encoding="ascii").splitlines()
    assert lexnames[:2] == ["00\tadj.all\t3", "01\tadj.pert\t3"]
    assert lexnames[3] == "03\tnoun.Tops\t1" and lexnames[29] == "29\tverb.body\t2"
    assert lexnames[44] == "44\tadj.ppl\t3" and len(lexnames) == 45
    before = snapshot(corpus)
    empty = tmp_path / "empty"
    empty.mkdir()
    # again: nothing is copied, and the source is not even needed
    assert prepare_wordnet(tmp_path, source=empty) == corpus
    assert snapshot(corpus) == before


def test_prepare_keeps_the_copy_of_a_process_that_finished_first(tmp_path, monkeypatch):
    rename = os.rename
    first = {}

    def rename_after_another_process(source, target):
        monkeypatch.setattr(os, "rename", rename)
        first.update(snapshot(prepare_wordnet(tmp_path)))  # the other process wins
        rename(source, target)  # raises: the target exists and is not empty

    monkeypatch.setattr(os, "rename", rename_after_another_process)
    corpus = prepare_wordnet(tmp_path)
    assert len(first) == NUM_DATABASE_FILES + 1 and snapshot(corpus) == first
    assert os.listdir(corpus.parent) == ["wordnet"]


def test_prepare_concurrently(tmp_path):
    results, errors = [], []

    def prepare():
        try:
            results.append(prepare_wordnet(tmp_path))
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=prepare) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [tmp_path / "corpora" / "wordnet"] * 3
    assert os.listdir(tmp_path / "corpora") == ["wordnet"]
    assert len(list(results[0].iterdir())) == NUM_DATABASE_FILES + 1


def test_failed_copy_leaves_nothing(tmp_path, monkeypatch):
    copyfile, calls = shutil.copyfile, []

    def copy_until_the_disk_is_full(source, target):
        calls.append(source)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return copyfile(source, target)

    monkeypatch.setattr(shutil, "copyfile", copy_until_the_disk_is_full)
    with pytest.raises(
        InputError,
        match=match("`augment.wordnet_dir`", str(tmp_path), "No space left on device"),
    ):
        prepare_wordnet(tmp_path)
    assert os.listdir(tmp_path / "corpora") == []


def test_missing_debian_package(tmp_path):
    with pytest.raises(InputError) as error:
        prepare_wordnet(tmp_path / "nltk_data", source=tmp_path / "absent")
    assert "\n" not in str(error.value)
    assert re.search(
        match(
            "augment.synonyms_path=None",
            f"no WordNet in {tmp_path}/nltk_data/corpora/wordnet",
            f"none in {tmp_path}/absent (14 of its 14 files missing, e.g. index.noun)",
            "`apt-get install wordnet-base wordnet-sense-index`",
            "augment.synonyms_path=<file>",
        ),
        str(error.value),
    )
    assert not (tmp_path / "nltk_data").exists()


def test_missing_sense_index_package(tmp_path):
    base_only = tmp_path / "wordnet-base"
    base_only.mkdir()
    for path in Path(DEBIAN_WORDNET_DIR).iterdir():
        if path.is_file() and path.name not in ("index.sense", "cntlist"):
            (base_only / path.name).symlink_to(path)
    with pytest.raises(InputError, match=match("(1 of its 14 files missing, e.g. index.sense)")):
        prepare_wordnet(tmp_path / "nltk_data", source=base_only)


def test_unwritable_wordnet_dir(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    with pytest.raises(
        InputError, match=match(f"Received: {not_a_folder} (", "$ABLATE_WORDNET_DIR")
    ):
        prepare_wordnet(not_a_folder)


def test_unreadable_corpus_folder(tmp_path):
    (tmp_path / "corpora" / "wordnet").mkdir(parents=True)  # e.g. emptied by hand
    with pytest.raises(
        InputError, match=match(f"{tmp_path}/corpora/wordnet that nltk cannot read", "Delete it")
    ):
        load_wordnet(tmp_path)


def test_default_wordnet_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ABLATE_WORDNET_DIR", str(tmp_path / "mine"))
    assert default_wordnet_dir() == tmp_path / "mine"
    monkeypatch.delenv("ABLATE_WORDNET_DIR")
    monkeypatch.setenv("ABLATE_CACHE_DIR", str(tmp_path / "cache"))
    assert default_wordnet_dir() == tmp_path / "cache" / "nltk_data"
    monkeypatch.delenv("ABLATE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_wordnet_dir() == tmp_path / "home" / ".cache" / "ablate" / "nltk_data"
