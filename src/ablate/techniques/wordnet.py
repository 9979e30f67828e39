"""WordNet 3.0 offline: nltk's corpus prepared from Debian's `wordnet-base` package.

nltk reads WordNet from `<root>/corpora/wordnet/` on its data path, normally filled by
`nltk.download("wordnet")`, which needs the network. Debian's `wordnet-base` and
`wordnet-sense-index` packages install the same WordNet 3.0 database under
`/usr/share/wordnet`:

    apt-get install wordnet-base wordnet-sense-index

`prepare_wordnet` copies its files into `<root>/corpora/wordnet/` and adds the one file
nltk needs that Debian does not ship, `lexnames` (the 45 lexicographer file names and
numbers of the `lexnames(5WN)` manual page). The files are copied, not linked: nltk
refuses to open a path that resolves outside its data roots. The copy is made in a
temporary folder that is then renamed into place, so a reader never sees half a corpus
and two processes preparing the same root at once both end with the one complete copy.
A root that already holds `corpora/wordnet/` is used as it is. `load_wordnet` returns
nltk's reader for it.

References:
    Miller, G. A. (1995). WordNet: A Lexical Database for English. Communications of
    the ACM 38(11), 39-41. https://doi.org/10.1145/219717.219748
    Fellbaum, C., ed. (1998). WordNet: An Electronic Lexical Database. MIT Press.

Example:

>>> wordnet = load_wordnet("/tmp/nltk_data")
>>> wordnet.get_version(), wordnet.synsets("film")[0].lemma_names()
('3.0', ['movie', 'film', 'picture', 'moving_picture', ...])
"""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

from ablate.disk_cache import cache_dir
from ablate.errors import InputError

#: Where Debian's `wordnet-base` and `wordnet-sense-index` put the WordNet 3.0 database.
DEBIAN_WORDNET_DIR = "/usr/share/wordnet"

_INSTALL = "apt-get install wordnet-base wordnet-sense-index"
_PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")
# The database files nltk's reader opens, besides `lexnames`: all from `wordnet-base`
# except `index.sense` (`wordnet-sense-index`).
_DATABASE_FILES = (
    *(f"{kind}.{pos}" for kind in ("index", "data") for pos in _PARTS_OF_SPEECH),
    *(f"{pos}.exc" for pos in _PARTS_OF_SPEECH),
    "index.sense",
    "cntlist.rev",
)
# WordNet 3.0's lexicographer files, numbered from 00 in this order (`man 5WN lexnames`).
LEXICOGRAPHER_FILES = (
    *("adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal"),
    *("noun.artifact", "noun.attribute", "noun.body", "noun.cognition"),
    *("noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group"),
    *("noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon"),
    *("noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation"),
    *("noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body"),
    *("verb.change", "verb.cognition", "verb.communication", "verb.competition"),
    *("verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion"),
    *("verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather"),
    "adj.ppl",
)
# The syntactic category field of `lexnames`: 1 noun, 2 verb, 3 adjective, 4 adverb.
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def default_wordnet_dir() -> Path:
    """Where WordNet is prepared by default.

    `$ABLATE_WORDNET_DIR` when set, else `nltk_data` in ablate's cache folder:
    `$ABLATE_CACHE_DIR/nltk_data`, or `~/.cache/ablate/nltk_data`.
    """
    if os.environ.get("ABLATE_WORDNET_DIR"):
        return Path(os.environ["ABLATE_WORDNET_DIR"]).expanduser()
    return cache_dir() / "nltk_data"


def prepare_wordnet(
    wordnet_dir: str | os.PathLike | None = None, source: str | os.PathLike = DEBIAN_WORDNET_DIR
) -> Path:
    """Makes `<wordnet_dir>/corpora/wordnet/` from Debian's WordNet files, once.

    Does nothing when the folder exists. Otherwise copies the database files of
    `source` and writes `lexnames` into a temporary folder beside it, then renames that
    folder into place; when another process got there first, its copy is kept and this
    one deleted. Nothing is left behind on failure.

    Args:
        wordnet_dir: an nltk data root (`augment.wordnet_dir`). Defaults to
            `default_wordnet_dir()`.
        source: the WordNet 3.0 database folder. Defaults to `DEBIAN_WORDNET_DIR`.

    Returns:
        The corpus folder, `<wordnet_dir>/corpora/wordnet`.

    Raises:
        InputError: if the folder is absent and `source` lacks a database file, or the
            copy fails (e.g. `wordnet_dir` is not writable).
    """
    root = Path(wordnet_dir).expanduser() if wordnet_dir else default_wordnet_dir()
    corpus = root / "corpora" / "wordnet"
    if corpus.is_dir():
        return corpus
    source = Path(source)
    missing = [name for name in _DATABASE_FILES if not (source / name).is_file()]
    if missing:
        raise InputError(
            "`augment=eda` needs a synonym source: a synonyms file or WordNet 3.0. "
            f"Received: augment.synonyms_path=None, no WordNet in {corpus} and none in "
            f"{source} ({len(missing)} of its {len(_DATABASE_FILES)} files missing, e.g. "
            f"{missing[0]}). Install WordNet with `{_INSTALL}` (Debian/Ubuntu), or pass "
            "augment.synonyms_path=<file> with lines `word: synonym, synonym`."
        )
    try:
        corpus.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=corpus.parent))
    except OSError as err:
        raise _copy_error(root, err) from err
    try:
        for name in _DATABASE_FILES:
            shutil.copyfile(source / name, temporary / name)
        (temporary / "lexnames").write_text(
            "".join(
                f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n"
                for number, name in enumerate(LEXICOGRAPHER_FILES)
            ),
            encoding="ascii",
        )
        temporary.chmod(0o755)
        try:
            os.rename(temporary, corpus)
        except OSError:
            if not corpus.is_dir():  # not another process's copy: a real failure
                raise
    except OSError as err:
        raise _copy_error(root, err) from err
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return corpus


def load_wordnet(
    wordnet_dir: str | os.PathLike | None = None, source: str | os.PathLike = DEBIAN_WORDNET_DIR
):
    """Returns nltk's WordNet reader, preparing the corpus first if needed.

    `wordnet_dir` is appended to `nltk.data.path` (nltk reads only below its data
    roots); nltk's own `nltk.corpus.wordnet` is left as it is. Multilingual functions
    (Open Multilingual Wordnet) are not available: only English is read.

    Args:
        wordnet_dir: an nltk data root (`augment.wordnet_dir`). Defaults to
            `default_wordnet_dir()`.
        source: the WordNet 3.0 database folder. Defaults to `DEBIAN_WORDNET_DIR`.

    Returns:
        An `nltk.corpus.reader.wordnet.WordNetCorpusReader`.

    Raises:
        InputError: if nltk is not installed, the corpus cannot be prepared (see
            `prepare_wordnet`) or cannot be read.
    """
    try:
        import nltk
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError as err:
        raise InputError(
            "`augment=eda` needs a synonym source: a synonyms file or WordNet through nltk. "
            "Received: augment.synonyms_path=None and nltk is not installed. Install "
            "ablate's dependencies (`pip install nltk`), or pass "
            "augment.synonyms_path=<file> with lines `word: synonym, synonym`."
        ) from err
    corpus = prepare_wordnet(wordnet_dir, source)
    root = str(corpus.parent.parent)
    if root not in nltk.data.path:
        nltk.data.path.append(root)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The multilingual functions are not available")
            return WordNetCorpusReader(str(corpus), None)
    except (OSError, LookupError, ValueError) as err:
        raise InputError(
            "`augment=eda` reads WordNet from a complete nltk corpus folder. "
            f"Received: {corpus} that nltk cannot read ({_one_line(err)}). Delete it to "
            f"prepare it again from {source}, or pass augment.synonyms_path=<file>."
        ) from err


def _copy_error(root: Path, err: OSError) -> InputError:
    """The error for a failed preparation of WordNet in `root`."""
    return InputError(
        "`augment=eda` prepares WordNet in a writable folder (`augment.wordnet_dir`, "
        f"$ABLATE_WORDNET_DIR). Received: {root} ({_one_line(err)}). Point "
        "$ABLATE_WORDNET_DIR at a writable folder, or pass augment.synonyms_path=<file>."
    )


def _one_line(err: Exception) -> str:
    """`err`'s message on one line."""
    return " ".join(str(err).split())
