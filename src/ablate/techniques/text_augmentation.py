"""Easy Data Augmentation (EDA) for text: four word-level edits of each training text.

EDA (Wei & Zou 2019) makes `num_aug` edited copies of each training text with four
operations, each written here as a public function:

- synonym replacement (`synonym_replacement`): `n` distinct non-stop words, each replaced
  (every occurrence) by one of its synonyms chosen at random;
- random insertion (`random_insertion`): `n` times, a random synonym of a random non-stop
  word is inserted at a random position;
- random swap (`random_swap`): `n` times, two random positions swap their words;
- random deletion (`random_deletion`): each word is deleted with probability `p_rd`, and
  one random word is kept if all were deleted.

With `l` words, `n = max(1, int(alpha * l))` for the operation's `alpha_sr`, `alpha_ri` or
`alpha_rs`. The defaults, `alpha = p_rd = 0.1`, are the reference implementation's
(`num_aug` defaults to 4 here, 9 there); the paper tunes `num_aug` and alpha to the
training-set size (more copies for fewer texts, its Table 3). It reports +0.8 percentage
points average accuracy on full datasets and +3.0 at 500 training examples.

Differences from the reference implementation (jasonwei20/eda_nlp), all deliberate:

- Texts are split into words as Keras' `TextVectorization` sees them (`text_words`:
  ASCII letters lowercased, `string.punctuation` removed), not with the reference's
  letters-only cleaning, so digits and non-ASCII words survive and the augmented copies
  are tokenized exactly like the texts the model reads. Augmented copies are returned in
  that form (lowercase, no punctuation); `TextVectorization` would produce the same
  tokens from the original casing anyway.
- The `num_aug` copies are split evenly across the enabled operations, in the order
  above, each operation getting `num_aug // k` copies and the first `num_aug % k` one
  more. The reference makes `num_aug // 4 + 1` copies per operation, shuffles them and
  keeps `num_aug`, so its per-text mix is random. An operation whose parameter is 0 is
  disabled, as in the reference.
- Random insertion skips stop words when picking the word whose synonym is inserted, as
  the paper describes (the reference does not), picks among words that have a synonym
  rather than giving up after 10 misses, and may insert at the end of the sentence too.
- Synonym replacement replaces all chosen words at once, so a replacement is never
  itself replaced (the reference replaces one word after the other).
- Randomness comes from a `numpy.random.Generator`, so the result is fixed by the seed.

Synonyms (`load_synonyms`) come from a user file or, as in the reference implementation,
from WordNet 3.0 (Miller 1995; Fellbaum 1998) through nltk. WordNet is read offline from
Debian's `wordnet-base` and `wordnet-sense-index` packages (`apt-get install wordnet-base
wordnet-sense-index`), copied once into an nltk data folder by `ablate.techniques.wordnet`;
the tests run real nltk on that real database. Without any source `augment=eda` fails
with an `InputError`: it never silently trains on unaugmented data.

Back-translation, the practitioner article's other text augmentation, is not supported: it
needs a translation model that can be neither installed nor tested here.

References:
    Wei, J. and Zou, K. (2019). EDA: Easy Data Augmentation Techniques for Boosting
    Performance on Text Classification Tasks. EMNLP-IJCNLP 2019.
    https://arxiv.org/abs/1901.11196; code: https://github.com/jasonwei20/eda_nlp
    Miller, G. A. (1995). WordNet: A Lexical Database for English. Communications of
    the ACM 38(11), 39-41. https://doi.org/10.1145/219717.219748
    Fellbaum, C., ed. (1998). WordNet: An Electronic Lexical Database. MIT Press.

Example:

>>> synonyms = load_synonyms("synonyms.txt")
>>> texts, labels = augment_texts(x_train, y_train, synonyms, seed=0, num_aug=4)
"""

import functools
import os
from collections.abc import Callable

import numpy as np

from ablate.data.text import text_words
from ablate.errors import InputError
from ablate.techniques.wordnet import DEBIAN_WORDNET_DIR, load_wordnet

Synonyms = Callable[[str], list[str]]

# English function words, never replaced by synonym replacement nor used to pick an
# inserted synonym (the reference implementation's English list).
_STOP_WORDS_TEXT = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_PARAMETERS = ("alpha_sr", "alpha_ri", "alpha_rs", "p_rd")


def load_synonyms(
    path: str | None,
    wordnet_dir: str | os.PathLike | None = None,
    wordnet_source: str | os.PathLike = DEBIAN_WORDNET_DIR,
) -> Synonyms:
    """Returns the synonym source for EDA: a user file, else WordNet 3.0 through nltk.

    The file is UTF-8 text with one word per line, a colon, then its synonyms separated
    by commas:

        # comments and blank lines are ignored
        good: great, fine, decent
        film: movie, picture
        awful: terrible, very bad

    Words and synonyms are read as `text_words` reads texts (lowercase, no punctuation),
    so lookups ignore case. A synonym may have several words (`very bad`); the word itself
    and repeated synonyms are dropped; a word on several lines gets all their synonyms.
    Synonymy is not made symmetric: list `film: movie` and `movie: film` for both ways.

    Without a file, the synonyms of a word are the lemma names of all its WordNet synsets
    (nltk's `synsets`, which also looks up base forms: "films" finds "film"), underscores
    and hyphens read as spaces, read as `text_words` reads texts, sorted. WordNet is read
    from `wordnet_dir`, prepared there on first use from Debian's WordNet 3.0 files in
    `wordnet_source` (see `ablate.techniques.wordnet.prepare_wordnet`).

    Args:
        path: the synonyms file (`augment.synonyms_path`), or `None` for WordNet.
        wordnet_dir: the nltk data folder holding or receiving `corpora/wordnet`
            (`augment.wordnet_dir`); unused with a file. Defaults to
            `$ABLATE_WORDNET_DIR`, else `$ABLATE_CACHE_DIR/nltk_data`, else
            `~/.cache/ablate/nltk_data`.
        wordnet_source: the WordNet 3.0 database folder to prepare it from; unused with a
            file. Defaults to `/usr/share/wordnet`, where Debian's packages put it.

    Returns:
        A function mapping a word, as `text_words` returns it, to its synonyms (an empty
        list when it has none).

    Raises:
        InputError: if the file is missing, unreadable or malformed, or `path` is `None`
            and WordNet is not available (nltk missing, or no prepared corpus and no
            database in `wordnet_source`, or `wordnet_dir` not writable).

    Example:

    >>> synonyms = load_synonyms("synonyms.txt")
    >>> synonyms("Good"), synonyms("unknown")
    (['great', 'fine', 'decent'], [])
    >>> load_synonyms(None)("film")[:4]  # WordNet
    ['celluloid', 'cinema', 'flick', 'motion picture']
    """
    if path is None:
        return _wordnet_synonyms(load_wordnet(wordnet_dir, wordnet_source))
    table = _read_synonyms_file(path)

    def synonyms(word: str) -> list[str]:
        return list(table.get(" ".join(text_words(word)), ()))

    return synonyms


def eda_sentence(
    sentence: str,
    synonyms: Synonyms,
    rng: np.random.Generator,
    *,
    alpha_sr: float = 0.1,
    alpha_ri: float = 0.1,
    alpha_rs: float = 0.1,
    p_rd: float = 0.1,
    num_aug: int = 4,
) -> list[str]:
    """Makes `num_aug` EDA copies of one text.

    The copies are split evenly across the enabled operations (parameter > 0) in the
    order synonym replacement, random insertion, random swap, random deletion: operation
    `j` of `k` makes `num_aug // k` copies, plus one if `j < num_aug % k`, and its copies
    come together. A text with no word gives `num_aug` empty strings.

    Args:
        sentence: the text to augment.
        synonyms: a word -> synonyms function, e.g. from `load_synonyms`.
        rng: the source of randomness; the result depends only on its state.
        alpha_sr: fraction of words replaced by a synonym, in [0, 1]
            (`augment.alpha_sr`). Defaults to `0.1`.
        alpha_ri: fraction of words inserted, in [0, 1] (`augment.alpha_ri`). Defaults
            to `0.1`.
        alpha_rs: fraction of words swapped, in [0, 1] (`augment.alpha_rs`). Defaults to
            `0.1`.
        p_rd: probability of deleting each word, in [0, 1] (`augment.p_rd`). Defaults to
            `0.1`.
        num_aug: the number of copies, an integer >= 0 (`augment.num_aug`). Defaults to
            `4`.

    Returns:
        `num_aug` augmented texts, words joined by single spaces.

    Raises:
        InputError: if a parameter is out of range, or `num_aug > 0` with every
            operation disabled.

    Example:

    >>> synonyms = {"good": ["great", "fine"], "film": ["movie", "picture"]}.get
    >>> eda_sentence("A good film!", lambda word: synonyms(word, []), np.random.default_rng(0))
    ['a fine film', 'a movie good film', 'film good a', 'a good film']
    """
    operations = _operations(alpha_sr, alpha_ri, alpha_rs, p_rd, num_aug)
    return _eda_words(text_words(sentence), synonyms, rng, operations, num_aug)


def augment_texts(
    texts: np.ndarray,
    labels: np.ndarray,
    synonyms: Synonyms,
    seed: int,
    *,
    alpha_sr: float = 0.1,
    alpha_ri: float = 0.1,
    alpha_rs: float = 0.1,
    p_rd: float = 0.1,
    num_aug: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Adds `num_aug` EDA copies of every text to a training split.

    Apply it to the training split only: validation and test texts stay as written. The
    originals come first, unchanged and in order, then the copies of `texts[0]`, those of
    `texts[1]`, and so on. Nothing is shuffled: shuffle in the input pipeline. One
    generator seeded with `seed` serves all texts, so the result is fixed by `seed`.

    When synonym replacement or random insertion is on, at least one non-stop word of
    the texts must have a synonym: otherwise both would silently copy the texts.

    Args:
        texts: 1-D array of the training texts.
        labels: the labels of `texts`, any array whose first axis matches (class indices
            or one-hot rows).
        synonyms: a word -> synonyms function, e.g. from `load_synonyms`.
        seed: seeds the generator.
        alpha_sr: see `eda_sentence` (`augment.alpha_sr`). Defaults to `0.1`.
        alpha_ri: see `eda_sentence` (`augment.alpha_ri`). Defaults to `0.1`.
        alpha_rs: see `eda_sentence` (`augment.alpha_rs`). Defaults to `0.1`.
        p_rd: see `eda_sentence` (`augment.p_rd`). Defaults to `0.1`.
        num_aug: copies per text (`augment.num_aug`). Defaults to `4`.

    Returns:
        `(texts, labels)` with `len(texts) * (1 + num_aug)` rows: an object array of `str`
        and `labels` with each copy's label equal to its original's.

    Raises:
        InputError: if a parameter is out of range (see `eda_sentence`), or synonym
            replacement or random insertion is on and no word of `texts` has a synonym.
        ValueError: if `texts` is not 1-D or `labels` has another length.

    Example:

    >>> x, y = augment_texts(np.array(["a good film"]), np.array([1]), synonyms, seed=0)
    >>> len(x), y.tolist()
    (5, [1, 1, 1, 1, 1])
    """
    operations = _operations(alpha_sr, alpha_ri, alpha_rs, p_rd, num_aug)
    texts = np.asarray(texts, dtype=object)
    labels = np.asarray(labels)
    if texts.ndim != 1 or labels.ndim == 0 or len(labels) != len(texts):
        raise ValueError(
            "`texts` must be 1-D and `labels` must have one row per text. "
            f"Received: texts.shape={texts.shape} and labels.shape={labels.shape}. "
            "Pass the training texts and their labels."
        )
    words = [text_words(str(text)) for text in texts]
    if num_aug > 0 and {"alpha_sr", "alpha_ri"} & {name for name, _ in operations}:
        _check_coverage(words, synonyms)
    rng = np.random.default_rng(seed)
    copies = [
        copy for tokens in words for copy in _eda_words(tokens, synonyms, rng, operations, num_aug)
    ]
    augmented = np.empty(len(texts) + len(copies), dtype=object)
    augmented[: len(texts)] = [str(text) for text in texts]
    augmented[len(texts) :] = copies
    return augmented, np.concatenate([labels, np.repeat(labels, num_aug, axis=0)])


def synonym_replacement(
    words: list[str], n: int, synonyms: Synonyms, rng: np.random.Generator
) -> list[str]:
    """Replaces `n` distinct non-stop words, every occurrence, by a random synonym each.

    Only words that have a synonym are candidates; with fewer than `n` of them, all are
    replaced. A synonym of several words adds several words.

    Args:
        words: the text's words.
        n: how many distinct words to replace.
        synonyms: a word -> synonyms function.
        rng: the source of randomness.

    Returns:
        The new list of words.
    """
    candidates = [w for w in dict.fromkeys(words) if w not in STOP_WORDS and synonyms(w)]
    chosen = [candidates[i] for i in rng.permutation(len(candidates))[:n]]
    replacement = {word: _pick(synonyms(word), rng) for word in chosen}
    return " ".join(replacement.get(word, word) for word in words).split()


def random_insertion(
    words: list[str], n: int, synonyms: Synonyms, rng: np.random.Generator
) -> list[str]:
    """Inserts, `n` times, a random synonym of a random non-stop word at a random position.

    The word is drawn among the current words (inserted ones included) that are not stop
    words and have a synonym; when there is none, nothing is inserted. The position is
    any of the `len + 1` gaps.

    Args:
        words: the text's words.
        n: how many synonyms to insert.
        synonyms: a word -> synonyms function.
        rng: the source of randomness.

    Returns:
        The new list of words.
    """
    new_words = list(words)
    for _ in range(n):
        candidates = [w for w in new_words if w not in STOP_WORDS and synonyms(w)]
        if not candidates:
            break
        synonym = _pick(synonyms(_pick(candidates, rng)), rng)
        position = int(rng.integers(len(new_words) + 1))
        new_words[position:position] = synonym.split()
    return new_words


def random_swap(words: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """Swaps the words at two distinct random positions, `n` times.

    Args:
        words: the text's words; fewer than 2 are returned unchanged.
        n: how many swaps.
        rng: the source of randomness.

    Returns:
        The new list of words, a permutation of `words`.
    """
    new_words = list(words)
    if len(new_words) < 2:
        return new_words
    for _ in range(n):
        i, j = rng.choice(len(new_words), size=2, replace=False)
        new_words[i], new_words[j] = new_words[j], new_words[i]
    return new_words


def random_deletion(words: list[str], p: float, rng: np.random.Generator) -> list[str]:
    """Deletes each word with probability `p`, keeping one random word if none is left.

    Args:
        words: the text's words; a single word is returned unchanged.
        p: the probability of deleting each word, in [0, 1].
        rng: the source of randomness.

    Returns:
        The new list of words, never empty when `words` is not.
    """
    if len(words) <= 1:
        return list(words)
    kept = [word for word, draw in zip(words, rng.random(len(words)), strict=True) if draw >= p]
    return kept or [_pick(words, rng)]


def _eda_words(
    words: list[str], synonyms: Synonyms, rng: np.random.Generator, operations, num_aug: int
) -> list[str]:
    """Runs `eda_sentence` on a text already split into words, parameters checked."""
    if not words:
        return [""] * num_aug
    copies = []
    for index, (name, parameter) in enumerate(operations):
        count = num_aug // len(operations) + (index < num_aug % len(operations))
        n = max(1, int(parameter * len(words)))
        for _ in range(count):
            if name == "alpha_sr":
                new_words = synonym_replacement(words, n, synonyms, rng)
            elif name == "alpha_ri":
                new_words = random_insertion(words, n, synonyms, rng)
            elif name == "alpha_rs":
                new_words = random_swap(words, n, rng)
            else:
                new_words = random_deletion(words, parameter, rng)
            copies.append(" ".join(new_words))
    return copies


def _check_coverage(words: list[list[str]], synonyms: Synonyms) -> None:
    """Raises unless some non-stop word of the texts has a synonym.

    Without one, synonym replacement and random insertion would return the texts
    unchanged: a silent no-op, typically a synonyms file for other words or language.

    Raises:
        InputError: if no non-stop word of `words` has a synonym.
    """
    distinct = dict.fromkeys(w for text in words for w in text if w not in STOP_WORDS)
    if not any(synonyms(word) for word in distinct):
        raise InputError(
            "The EDA synonym source must have synonyms for some training words when "
            "`augment.alpha_sr` or `augment.alpha_ri` is above 0. Received: no synonym for "
            f"any of the {len(distinct)} distinct non-stop words of the {len(words)} "
            "training texts. Check `augment.synonyms_path` (words as they appear in the "
            "texts, any case), or set augment.alpha_sr=0 and augment.alpha_ri=0."
        )


def _operations(alpha_sr, alpha_ri, alpha_rs, p_rd, num_aug) -> list[tuple[str, float]]:
    """Validates the EDA parameters and returns the enabled `(name, value)` pairs in order.

    Raises:
        InputError: if a parameter is not a number in [0, 1], `num_aug` is not an integer
            >= 0, or `num_aug > 0` with all four parameters 0.
    """
    values = dict(zip(_PARAMETERS, (alpha_sr, alpha_ri, alpha_rs, p_rd), strict=True))
    for name, value in values.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float | np.integer | np.floating)
            or not 0 <= value <= 1
        ):
            raise InputError(
                f"`augment.{name}` must be a number in [0, 1]. "
                f"Received: augment.{name}={value}. "
                "Use e.g. the paper's 0.1, or 0 to turn this operation off."
            )
    if isinstance(num_aug, bool) or not isinstance(num_aug, int | np.integer) or num_aug < 0:
        raise InputError(
            "`augment.num_aug` must be an integer >= 0. "
            f"Received: augment.num_aug={num_aug}. "
            "Use e.g. 4, or 0 to keep the training texts as they are."
        )
    enabled = [(name, float(value)) for name, value in values.items() if value > 0]
    if num_aug > 0 and not enabled:
        raise InputError(
            "`augment=eda` needs at least one of `augment.alpha_sr`, `augment.alpha_ri`, "
            "`augment.alpha_rs` and `augment.p_rd` above 0. Received: all four 0 with "
            f"augment.num_aug={num_aug}. Set one of them, e.g. augment.alpha_sr=0.1."
        )
    return enabled


def _pick(items: list[str], rng: np.random.Generator) -> str:
    """Returns a uniformly random element of the non-empty list `items`."""
    return items[int(rng.integers(len(items)))]


def _read_synonyms_file(path: str) -> dict[str, tuple[str, ...]]:
    """Reads and validates a synonyms file (format in `load_synonyms`).

    Returns:
        Each word's synonyms, in file order, without duplicates or the word itself.

    Raises:
        InputError: if the file is missing, not UTF-8, has a malformed line or no entry.
    """
    expanded = os.path.expanduser(str(path))
    if not os.path.isfile(expanded):
        raise InputError(
            "`augment.synonyms_path` must point to an existing synonyms file. "
            f"Received: augment.synonyms_path={path} (no such file). Check the path."
        )
    try:
        with open(expanded, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except UnicodeDecodeError as err:
        raise InputError(
            "`augment.synonyms_path` must be a UTF-8 text file. "
            f"Received: augment.synonyms_path={path} ({err.reason} at byte {err.start}). "
            "Save it as UTF-8."
        ) from err
    table: dict[str, dict[str, None]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word_part, colon, synonyms_part = line.partition(":")
        word = text_words(word_part)
        synonyms = [" ".join(text_words(item)) for item in synonyms_part.split(",")]
        synonyms = [synonym for synonym in synonyms if synonym and synonym != " ".join(word)]
        problem = None
        if not colon:
            problem = "no ':' after the word"
        elif len(word) != 1:
            problem = "expected exactly one word before ':'"
        elif not synonyms:
            problem = "no synonym other than the word itself after ':'"
        if problem:
            raise InputError(
                "`augment.synonyms_path` must have lines `word: synonym, synonym, ...`. "
                f"Received: augment.synonyms_path={path} with line {number} {line.strip()!r} "
                f"({problem}). Fix or delete that line."
            )
        table.setdefault(word[0], {}).update(dict.fromkeys(synonyms))
    if not table:
        raise InputError(
            "`augment.synonyms_path` must list at least one word with its synonyms. "
            f"Received: augment.synonyms_path={path} (no entries). "
            "Add lines such as `good: great, fine`."
        )
    return {word: tuple(synonyms) for word, synonyms in table.items()}


def _wordnet_synonyms(wordnet) -> Synonyms:
    """Returns the word -> synonyms function reading nltk's WordNet reader `wordnet`."""

    @functools.cache
    def lookup(word: str) -> tuple[str, ...]:
        names = {
            " ".join(text_words(name.replace("_", " ").replace("-", " ")))
            for synset in wordnet.synsets(word)
            for name in synset.lemma_names()
        }
        return tuple(sorted(name for name in names if name and name != word))

    def synonyms(word: str) -> list[str]:
        return list(lookup(" ".join(text_words(word))))

    return synonyms
