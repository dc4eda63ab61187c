"""Class folders to labelled samples: their classes, names and checks. Without PyTorch, so that
``check`` and ``split`` start at once; the datasets and loaders built on the samples are
``loaders``."""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from objrec.errors import ObjrecError, UsageRefused
from objrec.listing import is_hidden, is_image_file, is_link_loop, list_images
from objrec.run_files import BEST, LAST, model_gone
from objrec.words import close_match, grouped, joined, plural, quoted, some_of

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
REQUIRED_SPLITS = ("train", "valid")
EMPTY_CLASS_ADVICE = "holds no images: delete it, or put photos of the class in it"
"""What a class folder without images is told (check's line, train's error): what to do about
it, not "it would shift every later label", which a teacher could not act on."""
IMAGE_SET_MEANING = (
    "a fingerprint of the images and their labels; compare scores only between evaluations of "
    "the same set"
)
"""What an evaluation's image set (``current.image_set_fingerprint``) is, as every command and
the report say it after naming one (``test set 3f9a1c2b``)."""


def changed_test_warning(n: int, how: str, dry_run: bool = False, folder: str = "data") -> str:
    """The sentence when the test split of a data folder (``folder``, the argument naming it)
    gains, loses or relabels ``n`` images (``how``), by ``add`` or ``apply_plan`` (here, under
    both: ``applying`` imported it from ``add.result``): scores before and after are not
    comparable. The test set is the one evaluate's first line names: its meaning
    (:data:`IMAGE_SET_MEANING`) ended the sentence, "compare scores only between evaluations of
    the same set" after "scores before and after are on different test sets"."""
    changed, are = ("would change", "would be") if dry_run else ("changed", "are")
    return (
        f"{plural(n, 'test image')} {changed} ({how}): scores before and after {are} on "
        "different test sets (evaluate's first line names the set); to compare the run you "
        "train next with the old one, evaluate both on the new folder: "
        f"`evaluate(new_run, {folder}, against=old_run)`"
    )


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass(frozen=True)
class ClassFolder:
    """A folder with one visible sub-folder per class, read in sorted order."""

    root: Path
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]


def no_class_folders(root: Path, loose: int | None = None) -> ObjrecError:
    """The one sentence for a folder with no class sub-folders (check, split, train and the rest
    say the same), with how many images it holds directly (``loose``; default: counted)."""
    root = Path(root)
    if loose is None:
        loose = sum(is_image_file(p) for p in root.iterdir()) if root.is_dir() else 0
    held = f" (it holds {plural(loose, 'image')} directly)" if loose else ""
    if root.name in SPLITS and is_split_folder(root.parent):  # emptied since the split
        return ObjrecError(
            f"{root}, the {root.name} part of the split folder {root.parent}, has no class "
            f"sub-folders{held}: split the photos again, into a new folder"
        )
    return ObjrecError(
        f"{root} has no class sub-folders{held}: give the folder that contains one sub-folder per "
        "class"
    )


def refuse_run_folder(root: Path) -> None:
    """Refuse a run folder given where a data folder belongs: its evaluation folders (``eval-test``)
    would be read as classes. It is known by the checkpoint every run writes (``model.safetensors``,
    or ``last.safetensors`` while it can be resumed) when its header is objrec's: a file of that
    name from elsewhere (a downloaded model) is only an ignored file of a data folder. A folder
    with neither, holding the records a run writes beside them, is a run whose model is gone."""
    held = run_checkpoint(root)
    if held:
        raise ObjrecError(
            f"{root} is a run folder (`train`'s output: it holds {held}), not a folder of "
            "class sub-folders: pass the data folder it was trained on"
        )
    gone = model_gone(root)  # its photo folder's curves.png was read as one image at the top
    if gone:
        raise ObjrecError(f"{gone}, or pass a folder of class sub-folders")


def run_checkpoint(root: Path) -> str | None:
    """The name of the objrec checkpoint that makes ``root`` a run folder (``model.safetensors``
    or ``last.safetensors``), or None: a file of that name from elsewhere does not."""
    named = [name for name in (BEST, LAST) if (Path(root) / name).is_file()]
    if not named:
        return None
    from objrec.model_file import is_checkpoint  # its header, read only for a file of that name

    return next((name for name in named if is_checkpoint(Path(root) / name)), None)


def class_dirs(root: Path) -> list[Path]:
    """The visible sub-folders of ``root`` (links to folders too; not ``__MACOSX`` and the other
    ``listing.SYSTEM_FOLDERS``), sorted by name.

    A link back to ``root`` or a folder above it is left out with a warning (it would loop); a run
    folder is refused (:func:`refuse_run_folder`).
    """
    root = Path(root)
    if not root.is_dir():
        raise ObjrecError(f"{root} is not a folder")
    refuse_run_folder(root)
    above = frozenset({os.path.realpath(root)})
    found = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p)):
        if is_link_loop(path, above):
            log.warning("%s links back to a folder that contains it: not followed", path)
        else:
            found.append(path)
    return found


def class_of_folder(folder: str) -> str:
    """The class a folder of that name holds: its name in NFC, as a person sees it. macOS writes
    accents decomposed (NFD ``café``, an ``e`` and a combining accent) where other systems, and
    a person typing, compose them (NFC): the two look alike and are one class to a person."""
    return unicodedata.normalize("NFC", folder)


def class_key(name: str) -> str:
    """A class folder's name as macOS and Windows tell folders apart: case and the encoding of
    accents (NFC and NFD ``café``) aside, so two names of one key are one folder there."""
    return unicodedata.normalize("NFC", name).casefold()


def read_key(name: str) -> str:
    """A class name as a person reads it: its :func:`class_key`, the spaces at either end aside
    too (a Mac's ``Stop signs `` folder reads as ``Stop signs`` in every table and answer, and
    Windows drops a folder name's last space), so two names of one key are one class to a person."""
    return class_key(name.strip())


def class_spelling(classes: Iterable[str]) -> Callable[[str], str]:
    """How the data folder whose class folders are ``classes`` spells a class named: the class
    whose name is the name given but for how its accents are encoded (a Mac's NFD ``Café``, a
    typed NFC one: one name to a person) or for spaces at either end (a Mac's ``mugs `` folder
    for a typed ``mugs``), its exact name first, the first of several in sorted order; a name of
    no such class, in NFC. The one rule of ``add``'s new classes and ``apply_plan``'s relabels:
    each writes into the folder a person means, not a second one that reads the same."""
    ordered = sorted(classes, reverse=True)  # the first in sorted order written last: kept
    spelt = {class_of_folder(name).strip(): name for name in ordered}
    spelt |= {class_of_folder(name): name for name in ordered}  # an exact name before a spaced

    def as_spelt(name: str) -> str:
        name = class_of_folder(name)
        return spelt.get(name) or spelt.get(name.strip(), name)

    return as_spelt


def how_alike(one: str, other: str) -> str:
    """What tells apart two names of one :func:`read_key` (not one :func:`class_of_folder`), in
    words: ``case``, ``a space at either end``, or both."""
    if class_key(one) == class_key(other):
        return "case"
    if class_of_folder(one).strip() == class_of_folder(other).strip():
        return "a space at either end"
    return "case and a space at either end"


def alike_why(how: str) -> str:
    """Why two class folders named alike (``how``, :func:`how_alike`'s words) cannot stay two
    classes, in the words check, split, train, add and apply-plan all say it."""
    if how == "case":
        return "one folder on macOS and Windows"
    if how == "a space at either end":
        return "two classes that read the same in every answer"
    return "two classes that read alike in every answer"  # "Red " and "red": alike, not the same


def alike_names(
    names: Iterable[str], known: Iterable[str] = (), key: Callable[[str], str] = class_key
) -> Iterator[tuple[str, str]]:
    """Each of ``names`` with the name before it (of ``known``, then of ``names``) that is not
    the same but has its ``key`` (by default :func:`class_key`: one folder on macOS and
    Windows), as ``(earlier, name)``."""
    seen: dict[str, str] = {}
    for name in known:
        seen.setdefault(key(name), name)
    for name in names:
        earlier = seen.setdefault(key(name), name)
        if earlier != name:
            yield earlier, name


def look_alikes(names: Iterable[str], known: Iterable[str] = ()) -> Iterator[tuple[str, str, str]]:
    """Each of ``names`` that reads as a name before it (of ``known``, then of ``names``: one
    :func:`read_key`, case and a space at either end aside) but is another class (not one
    :func:`class_of_folder`: the NFC and NFD ``Café`` are one class, never refused), as
    ``(earlier, name, how)``, ``how`` in :func:`how_alike`'s words: the one rule by which
    ``split``, ``train``, ``add`` and ``apply_plan`` refuse two classes a person cannot tell apart
    or macOS and Windows hold as one folder, each in its own sentence."""
    for earlier, name in alike_names(names, known, key=read_key):
        if class_of_folder(earlier) != class_of_folder(name):
            yield earlier, name, how_alike(earlier, name)


def refuse_likely_misspelt(
    new: Collection[str], known: Collection[str], where: str = "", given: str | None = None
) -> None:
    """Refuse a new class whose name is likely a misspelling of one of the data folder's classes
    ``known`` (``sunflowr`` beside ``sunflower``, by the "is it X?" rule): ``add`` would write it
    as a class of its own, its files and manifest rows to take out by hand, and ``apply-plan`` a
    class folder of its own in its copy. ``new_class`` says it is new. ``where``: what the
    sentence starts with (a plan's lines); ``given``: the parameter that named the class
    (``add``'s ``class_name``), named in place of "the new class", a usage error."""
    likely = likely_misspelt(new, known)
    if not likely:
        return
    one = len(likely) == 1
    error = ObjrecError if given is None else UsageRefused
    raise error(
        f"{where}{given or ('the new class' if one else 'the new classes')} "
        f"{some_of(with_likely(likely, sorted(known)), quote=False)} {'is' if one else 'are'} "
        f"named like {'a class' if one else 'classes'} of the data folder: to add to "
        f"{'it' if one else 'them'}, give {'its' if one else 'their'} name; to make "
        f"{'a new class' if one else 'new classes'}, give `new_class=True`"
    )


def likely_misspelt(new: Collection[str], known: Collection[str]) -> list[str]:
    """The names of ``new`` that are not of ``known`` but likely a misspelling of one, sorted."""
    return sorted(n for n in set(new) - set(known) if close_match(n, known))


def with_likely(names: Sequence[str], candidates: Sequence[str]) -> list[str]:
    """Each of ``names``, with the candidate it is most likely a misspelling of: ``starfsh (is it
    starfish?)``."""
    hints = ((name, close_match(name, candidates)) for name in names)
    return [
        f"{quoted(name)} (is it {quoted(match)}?)" if match else quoted(name)
        for name, match in hints
    ]


def scan_class_folder(
    root: Path,
    classes: Sequence[str] | None = None,
    skip_empty: bool = False,
    leave_out: Collection[str] = (),
) -> ClassFolder:
    """Read the images of a class folder.

    Args:
        root: the folder, one sub-folder per class.
        classes: the class names in label order (e.g. a checkpoint's); default: the sub-folders
            (with ``skip_empty``, those holding images).
        skip_empty: leave a class folder without images out with a warning (a command that only
            reads the folder, as ``audit``), instead of refusing it.
        leave_out: class folders to pass over (``evaluate``'s classes the model was not taught,
            which it reports on its own).

    Raises:
        ObjrecError: no class folders, an empty class folder (it would silently shift labels), or a
            class folder that is not one of ``classes``.

    Folders whose names differ only in how their accents are encoded (NFC and NFD ``Café``) are
    one class (:func:`class_of_folder`), named in NFC unless ``classes`` spells it otherwise.
    """
    root = Path(root)
    found = class_folders(root, leave_out)
    listed = {
        name: [f for path in paths for f in list_images(path)] for name, paths in found.items()
    }
    if skip_empty:
        for name in [n for n, files in listed.items() if not files]:
            log.warning("class folder %s holds no images: left out", found.pop(name)[0])
            del listed[name]
    names = tuple(classes) if classes is not None else tuple(found)
    _refuse_untaught(root, found, listed, names)
    samples: list[Sample] = []
    for label, name in enumerate(names):
        files = listed.pop(class_of_folder(name), None)  # a class spelt twice in ``classes``: once
        if files is None:
            continue
        if not files:
            raise ObjrecError(
                f"class folder {found[class_of_folder(name)][0]} {EMPTY_CLASS_ADVICE}"
            )
        samples.extend(Sample(path, label) for path in files)
    return ClassFolder(root, names, tuple(samples))


def _refuse_untaught(
    root: Path, found: dict[str, list[Path]], listed: dict[str, list[Path]], names: Sequence[str]
) -> None:
    """Refuse class folders of ``root`` (``found``, their images ``listed``) with images that are
    not of the classes ``names``; pass over, with a warning, those without images."""
    taught = {class_of_folder(name) for name in names}
    unknown = sorted(name for name in set(found) - taught if listed[name])
    for name in sorted(set(found) - taught - set(unknown)):
        log.warning("%s holds no images and is not a class of the model: ignored", found[name][0])
    if unknown:
        listed_names = some_of(with_likely(unknown, names), quote=False)
        raise ObjrecError(
            f"{root} has class folders that are not among the model's {len(names)} classes (its "
            f"training images' class folders): {listed_names}; add their training images, or "
            f"move their folders out of {root}"
        )


def class_folders(root: Path, leave_out: Collection[str] = ()) -> dict[str, list[Path]]:
    """The class folders of ``root`` by class (:func:`class_of_folder`: the NFC and NFD
    ``Café`` folders are one class's), but those ``leave_out`` names; refused when it has none."""
    found = class_dirs(root)
    if not found:
        raise no_class_folders(root)
    left_out = {class_of_folder(name) for name in leave_out}
    folders: dict[str, list[Path]] = {}
    for path in found:
        if class_of_folder(path.name) not in left_out:
            folders.setdefault(class_of_folder(path.name), []).append(path)
    return folders


IMBALANCE_RATIO = 50
"""The ratio of the largest class's images to the smallest's from which check, explore and
train's start name ``balance='weights'`` (``--balance weights``), once. Caltech-101 is 27 to 1
(300 training images of airplanes, 11 of inline_skate, in each 50/25/25 split of ../shared; 600
to 23 in its whole folder), and there the class-weighted loss measured the same as the plain
one (benchmarks/README.md: valid loss 0.1611 against 0.1605, mean per-class top-1 95.18% against
95.15%), so such data is not nagged; a plant-pathology folder of 407 against 3 (136 to 1) is."""


def split_then_balance(root: Path) -> str:
    """How to weigh the classes' loss, said of the class folder ``root``: split it, then train on
    the split (``train`` takes a split folder: a call of it on ``root`` itself, which check and
    explore advised, would be refused)."""
    return (
        f"splitting it (`split_folder({str(root)!r}, 'data')`) and training on that with "
        "`train('data', out='run', balance='weights')`"
    )


def imbalance_hint(counts: dict[str, int], images: str, how: str) -> str | None:
    """One sentence when the largest of ``counts`` (``images`` per class: "training image") is
    :data:`IMBALANCE_RATIO` times the smallest or more, naming ``how`` to weigh the classes' loss
    (a call, spelled as the command's options by the CLI); None otherwise. Empty classes, a
    problem of their own, are not counted."""
    held = {name: n for name, n in counts.items() if n > 0}
    if len(held) < 2:
        return None
    large, small = max(held, key=held.__getitem__), min(held, key=held.__getitem__)
    ratio = held[large] / held[small]
    if ratio < IMBALANCE_RATIO:
        return None
    return (
        f"the classes are strongly imbalanced: {large} has {plural(held[large], images)}, "
        f"{small} {held[small]:,} ({ratio:,.0f} to 1; said at {IMBALANCE_RATIO} to 1 or more), "
        f"so the model may favour the large classes; {how} weighs each class's loss by the "
        "inverse of its share of the training images (evaluate's mean per-class top-1 says "
        "whether it helps)"
    )


def is_split_folder(root: Path) -> bool:
    """True when ``root`` has ``train/`` and ``valid/``; ``test/`` is optional (kept elsewhere)."""
    return all((Path(root) / split).is_dir() for split in REQUIRED_SPLITS)


def present_splits(root: Path) -> list[str]:
    """The splits a split folder has, in order (``test`` may be missing)."""
    return [split for split in SPLITS if (Path(root) / split).is_dir()]


def require_split_folder(root: Path, given_as: str | None = None) -> None:
    """Raise unless ``root`` is a split folder, saying what it is instead and how to make one;
    ``given_as``: the parameter that gave it (split's ``like``), named in the refusal, which then
    asks for the split folder made earlier: splitting ``root`` again is not what the user wants."""
    root = Path(root)
    if not root.is_dir():
        raise ObjrecError(f"{root} is not a folder")
    if is_split_folder(root):  # even one named train/ inside a split folder
        return
    refuse_run_folder(root)
    if root.name in SPLITS and is_split_folder(root.parent):
        raise ObjrecError(
            f"{root} is the {root.name} part of a split folder: pass {root.parent}, the folder "
            "that holds train/ and valid/"
        )
    missing = [s for s in REQUIRED_SPLITS if not (root / s).is_dir()]
    if given_as:
        raise UsageRefused(
            f"`{given_as}` {root} is not a split folder: it has no {' and no '.join(missing)} "
            "sub-folder; give it the split folder an earlier split made (with train/ and valid/)"
        )
    raise UsageRefused(  # a DATA that cannot be right, as a `like` that is none (exit 2)
        f"{root} is not a split folder: it has no {' and no '.join(missing)} sub-folder "
        f"(train/ and valid/ are needed, test/ is optional); `{split_call(root)}` makes them"
    )


def split_call(root: Path) -> str:
    """The call that splits the class folder ``root`` into a new folder in the current one, named
    after it (``photos-split``, or ``photos-split-2`` where that is taken: never a folder that
    exists), which the CLI says as the command (``objrec split photos photos-split``): the
    folders the commands name are made where they run (README); a generic ``data`` beside the
    photos would lie outside it and over a name the user may hold."""
    name = f"{Path(root).resolve().name}-split"
    out, n = name, 2
    while os.path.lexists(out):
        out, n = f"{name}-{n}", n + 1
    return f"split_folder({str(root)!r}, {out!r})"


SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "dev": "valid",
    "test": "test",
    "testing": "test",
}
"""The names a downloaded dataset's split folders go by (Kaggle's, ImageNet's, ISIC's ``train/
val/ test/``; by their case-folded name), and the split of objrec's each one is."""


def already_split(root: Path, files: Mapping[str, Sequence[Path]]) -> str | None:
    """What makes ``root``, read as a folder of class folders (``files``: each one's images), a
    dataset laid out as split already, and what to do with it ("laid out as split already: ..."):
    every class folder holding images is named as a split (:data:`SPLIT_NAMES`) and holds them
    all in sub-folders (``train/cat/a.jpg``). None when it is not so: a class named ``test``
    beside others is a class. Unseen, ``split`` would make classes train, val and test of such
    a folder, and ``check`` would find nothing wrong."""
    held = {name: paths for name, paths in files.items() if paths}
    parts = [p.relative_to(root).parts for paths in held.values() for p in paths]
    if not held or any(n.casefold() not in SPLIT_NAMES for n in held) or min(map(len, parts)) < 3:
        return None
    order = list(SPLIT_NAMES)
    folders = sorted({p[0] for p in parts}, key=lambda n: (order.index(n.casefold()), n))
    classes = sorted({class_of_folder(p[1]) for p in parts})
    hold = "hold" if len(folders) > 1 else "holds"
    said = f"laid out as split already: {joined([f'{n}/' for n in folders])} {hold} "
    said += f"class folders ({some_of(classes)}), not photos: "
    as_split = {n: SPLIT_NAMES[n.casefold()] for n in folders}
    merge = "merge each class's folders into one folder of class folders and split that"
    if not set(REQUIRED_SPLITS) <= set(as_split.values()):
        return said + merge + " (`train` takes a split folder of train/ and valid/)"
    renames = [f"{n}/ to {split}/" for n, split in as_split.items() if n != split]
    rename = f"rename {joined(renames)} and " if renames else ""
    return said + f"{rename}give it to `train` as a split folder, or {merge}"


UNKNOWN = "unknown"
"""The answer for an image that looks like none of the classes (``predict --csv``'s and
``predictions.csv``'s ``answer`` column, the CLI's lines): no class may have that name."""


def named_unknown(name: str) -> bool:
    """Whether a class folder's name is :data:`UNKNOWN`, case and accents' encoding aside
    (``Unknown`` reads as the same answer to a person, and is one folder on macOS)."""
    return class_key(name) == UNKNOWN


WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10))}
)
"""Names Windows keeps for devices: no file or folder may have one, whatever its extension."""
WINDOWS_FORBIDDEN = '<>:"/\\|?*'
"""Characters no Windows (or FAT, exFAT) file or folder name may hold, beside control ones."""
WINDOWS_WHY = (
    "copied to Windows, or to a FAT or exFAT drive, such a class folder is lost or renamed: "
    "rename it if the photos or the split folder will go there"
)
"""What a name :func:`windows_unsafe` finds costs, said once with the names."""


def windows_warning(names: Mapping[str, str] | Iterable[str], kind: str = "class") -> str | None:
    """One warning on the ``names`` Windows cannot hold (:func:`windows_unsafe`), grouped by why,
    or None: ``kind`` "class" (a class folder: split, add's new classes, apply-plan's new_class)
    or "file" (add's copies, named as in the data folder). ``names`` may map each name shown to
    the name judged (``train/red/aux.png`` to ``aux.png``). A warning, not an error: the folder
    works here, only a copy to Windows fails."""
    judged = names if isinstance(names, Mapping) else {name: name for name in names}
    unsafe = {shown: why for shown, name in judged.items() if (why := windows_unsafe(name))}
    if not unsafe:
        return None
    why = WINDOWS_WHY if kind == "class" else WINDOWS_WHY.replace("class folder", kind)
    return f"{kind} names Windows cannot hold: {grouped(unsafe)}; {why}"


def windows_unsafe(name: str) -> str | None:
    """Why Windows cannot hold a folder named ``name`` (``con``: a device name; ``x:y``: it holds
    ``:``; ``café.``: it ends in a dot, which Windows drops), in words; None when it can. Linux
    and macOS hold such names, so a split or a run works here; only a copy fails."""
    if name.split(".")[0].rstrip(" ").upper() in WINDOWS_DEVICES:
        return "a device name"
    if bad := sorted({c for c in name if c in WINDOWS_FORBIDDEN or ord(c) < 32}):
        return "holds " + " ".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in bad)
    if name.endswith((".", " ")):
        return f"ends in a {'dot' if name.endswith('.') else 'space'}"
    return None


UNKNOWN_NAME_WHY = (
    'predict and evaluate answer "unknown" for an image like none of the classes, so this class '
    "could not be told from that answer: rename the folder (to other, say)"
)
"""Why a class folder :func:`named_unknown` is refused, and what to do, as train and check say."""


def refuse_unknown_class(root: Path) -> None:
    """Refuse a class folder of ``root`` :func:`named_unknown`, naming it."""
    for folder in class_dirs(root):
        if named_unknown(folder.name):
            raise ObjrecError(
                f"{folder} is a class named {folder.name}: {UNKNOWN_NAME_WHY}, in every split, "
                "and train again"
            )


def refuse_classes_named_alike(root: Path) -> None:
    """Refuse two class folders of ``root`` named alike (:func:`read_key`: ``Mugs`` and ``mugs``,
    ``Stop signs`` and ``Stop signs ``) that are not one class (:func:`class_of_folder`): the
    model would learn two classes that read the same in every answer."""
    for other, name, how in look_alikes(class_folders(root)):
        raise ObjrecError(
            f"the class folders {other!r} and {name!r} of {root} differ only in "
            f"{how}, {alike_why(how)}: if they "
            "are one class, move the images of one into the other in every split; if two, "
            "rename one, and train again"
        )


def require_two_classes(root: Path) -> None:
    """Refuse a class folder of a single class: a classifier of one class learns nothing (its
    every answer is right, its loss 0), and its unknown threshold would be fitted on nothing."""
    found = class_dirs(root)
    if len(found) == 1:
        raise ObjrecError(
            f"{root} has only one class ({found[0].name}): a classifier needs at least two, so "
            "add a folder of images of another class"
        )
