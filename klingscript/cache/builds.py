"""The whole-build shortcut: ``klingc build`` of a script, options and output folder unchanged
since its last build is answered without compiling or writing anything.

A build's entry (one per script and output folder, in namespace ``builds``) holds:

- the key of everything the build was made from: the script's text, its path as
  shown and as it is, its project folder, ``--allow-outside``, the output folder,
  and the options (``cache.options_digest``: the ``--templates`` folder's files,
  the ``--pricing`` file, the profiles' fingerprint, Jinja2's and pydantic's
  files; klingc's own stamp is in every key of the store);
- what the check of it depended on beyond that, as the scene results keep it
  (``scenes.whole_hit``): every ``use`` file by content, every image a check
  looked at (and every ``use`` file looked for) by signature;
- the output folder as the build left it: every entry's name, type, inode, size,
  modification and change times (``tree``). A file edited, added, removed or
  replaced since, or a folder made again, is a miss: the build runs and writes;
- the warnings it printed and the summary line after the folder's name.

On a hit the warnings are printed again (rendered now, for the terminal of now)
and then the summary: the same output as the build, and the folder as it was.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple, Optional

NAMESPACE = "builds"
MAX_BUILDS = 50


def tree(target) -> Optional[tuple]:
    """Every entry under ``target`` (name relative to it, mode, inode, size, mtime, ctime),
    in order; None when it cannot be listed."""
    out: list = []

    def walk(folder: str, rel: str) -> None:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            st = e.stat(follow_symlinks=False)
            name = rel + e.name
            out.append((name, st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
            if stat.S_ISDIR(st.st_mode):
                walk(e.path, name + "/")

    try:
        st = os.stat(target)
        if not stat.S_ISDIR(st.st_mode):
            return None
        out.append(("", st.st_mode, st.st_ino, 0, 0, 0))
        walk(str(target), "")
    except OSError:
        return None
    return tuple(out)


def _key(display: str, abspath: Path, text: str, allow_outside: bool, target: str,
         templates: Optional[str], pricing: Optional[str], api: Optional[str] = None,
         callback_url: Optional[str] = None) -> Optional[str]:
    from . import options_digest
    from .scenes import digest

    if templates and not os.path.isdir(templates):
        return None          # the build reports it
    try:
        options = options_digest(templates, pricing, api, callback_url)
    except (OSError, UnicodeError):
        return None
    return digest("build", display, str(abspath), str(abspath.parent), bool(allow_outside),
                  os.path.abspath(target), bool(templates), options, text)


def _where(abspath: Path, target) -> tuple:
    return (str(abspath), os.path.abspath(target))


def unchanged(path, target, allow_outside: bool = False, templates: Optional[str] = None,
              pricing: Optional[str] = None, api: Optional[str] = None,
              callback_url: Optional[str] = None) -> tuple:
    """(hit, tree): ``hit`` is (program with the files' texts, warnings, summary) of the last
    build of ``path`` into ``target`` when nothing it was made from, and nothing in ``target``,
    has changed, else None; ``tree`` is ``target`` as that build left it (``tree``), or None."""
    from . import store
    from . import scenes as S
    from ..project import InputError, Loader, read_main

    s = store()
    if s is None:
        return None, None
    loader = Loader()
    try:
        abspath, text = read_main(path, loader)
    except (InputError, OSError, UnicodeError):
        return None, None
    entry = s.get(NAMESPACE, _where(abspath, target))
    if not isinstance(entry, dict):
        return None, None
    left = entry.get("tree")
    display = os.path.normpath(str(path))
    key = _key(display, abspath, text, allow_outside, target, templates, pricing, api, callback_url)
    try:
        # The key first: after an edit, the folder is not listed.
        if key is None or entry["whole"][0] != key or left != tree(target):
            return None, left
        done = S.whole_hit(entry, key, abspath, display, text, allow_outside, loader)
        if done is None:
            return None, left
        return (done.program, done.diagnostics, entry["summary"]), left
    except Exception:    # an authentic entry of another shape: build again
        return None, None


def record(program, path, target, warnings, summary: str, allow_outside: bool = False,
           templates: Optional[str] = None, pricing: Optional[str] = None, whole: Optional[tuple] = None,
           api: Optional[str] = None, callback_url: Optional[str] = None) -> None:
    """Keep the build of ``program`` just written into ``target`` for ``unchanged``. ``whole``:
    the ``use`` files and images the check depended on, as its scene results keep them, when
    ``program`` holds only the blocks parsed in this run (``compiler.build_incremental``)."""
    from . import store
    from . import scenes as S

    s = store()
    if s is None:
        return
    main = program.main
    display = os.path.normpath(str(path))
    key = _key(display, main.path, main.text, allow_outside, target, templates, pricing, api,
               callback_url)
    folder = tree(target)
    if key is None or folder is None:
        return
    if whole is not None:
        uses, deps = whole
    else:
        uses, deps = S.whole_deps(program, set(program.touched))
    entry = {"whole": (key, uses, deps, S.encode(warnings)), "tree": folder, "summary": summary}
    s.put(NAMESPACE, _where(main.path, target), entry, MAX_BUILDS)


# -- a build after an edit: each scene's outputs --------------------------------------

PARTS = "build-scenes"
MAX_PARTS = 50


class Scenes(NamedTuple):
    """The scene blocks of a script and the keys of their outputs in a build with some options."""
    doc_key: str
    keys: tuple                 # per scene, in order (scene n at n - 1)
    blocks: tuple               # the scene blocks (parser.Block), in order


def scenes_of(program, allow_outside: bool, templates: Optional[str], pricing: Optional[str],
              api: Optional[str] = None, callback_url: Optional[str] = None):
    """The keys of ``program``'s scenes' outputs, or None when they cannot be made.

    A scene's outputs (its jobs' plan.json entries, their requests, its prompt page and
    its plan.json scene entry) are keyed by: the scene block's text, its number and the
    number of scenes (the prompt pages' names); the rest of the script (every block that
    is not a scene, by its text and its place among the blocks), where it is (its path
    as shown and as it is, its project folder), ``--allow-outside`` and every ``use`` file
    by path and text; the options (``cache.options_digest``: the templates, the pricing,
    the profiles, Jinja2's and pydantic's files, ``--api`` and
    ``--callback-url`` when given);
    klingc's stamp is in every key.
    """
    from . import options_digest
    from .scenes import digest
    from ..syntax.parser import split_file

    main = program.main
    try:
        options = options_digest(templates, pricing, api, callback_url)
    except (OSError, UnicodeError):
        return None
    blocks = split_file(main.text, main.display).blocks
    rest = [(i, b.text) for i, b in enumerate(blocks) if not b.is_scene]
    uses = [(f.display, str(f.path), f.text) for f in program.files.values() if f.path != main.path]
    doc_key = digest("build scenes", main.display, str(main.path), str(program.root), bool(allow_outside),
                     bool(templates), options, rest, uses)
    scenes = tuple(b for b in blocks if b.is_scene)
    width = max(2, len(str(len(scenes))))
    keys = tuple(digest(doc_key, n, width, b.text) for n, b in enumerate(scenes, 1))
    return Scenes(doc_key, keys, scenes)


def stored_parts(path) -> dict:
    """The outputs kept of the last build of the script at ``path`` (``keep_parts``), or {}."""
    from . import store

    s = store()
    entry = s.get(PARTS, (str(path),)) if s is not None else None
    return entry if isinstance(entry, dict) else {}


def parts_of(plan, output, numbers) -> dict:
    """Scene number -> its outputs, of the scenes ``numbers`` planned in ``plan`` (a finished
    ``Plan``) whose outputs are in ``output`` (``emit.Output`` with the requests' texts):
    (jobs, prompt page, plan.json scene entry). A job is its plan.json entry as text before
    and after its request (``emit.job_entry_text``), its request's text, its id, duration,
    credits, prompt page's name, Kling elements and their ids (``depends_on``), its model and
    the model's element endpoint, and its cost entry."""
    from ..backends.emit import job_entry_text

    jobs: dict = {}
    for job, entry in zip(plan.jobs, output.plan["jobs"]):
        p = job.profile
        jid = entry["id"]
        jobs.setdefault(job.scene.number, []).append(
            (*job_entry_text(entry), output.texts[jid], jid, entry["duration"], job.credits,
             entry["prompt_file"], job.kling_elements, tuple(entry["depends_on"]), p.model_name,
             p.endpoints.element, entry["cost"]))
    scenes = {s["scene"]: s for s in output.plan["scenes"]}
    out = {}
    for n in numbers:
        mine = tuple(jobs.get(n, ()))
        page = output.prompts.get(mine[0][6]) if mine else None
        out[n] = (mine, page, scenes.get(n))
    return out


def elements_of(parts) -> tuple:
    """(name, model, element endpoint) of each element to create, in order of first use:
    what the plan's element entries are made for (``emit._element_profiles``)."""
    seen: dict = {}
    for jobs, _, _ in parts:
        for job in jobs:
            for name in job[7]:
                if name not in seen:
                    seen[name] = (name, job[9], job[10])
    return tuple(seen.values())


def assemble(parts, elements: list, head: tuple) -> tuple[dict, dict]:
    """The build folder's files (relative path -> text) and plan.json's data (its jobs left
    out), from every scene's outputs in order, the plan's element entries and its head (title,
    source, currency, API generation, pricing note: ``emit.plan_data``): byte for byte what ``plan_json`` and ``commands.build.build_files`` make of the
    whole plan. ValueError when a job's elements are no longer those it was made with."""
    from ..backends.emit import plan_data, plan_json_text

    ids = {e["name"]: e["id"] for e in elements}
    files: dict = {}
    jobs, scenes, figures = [], [], []
    for mine, page, scene in parts:
        for before, after, text, jid, seconds, credits, _, kling, depends, _, _, cost in mine:
            if tuple(ids[n] for n in kling) != depends:
                raise ValueError("the elements' ids changed")
            jobs.append((before, text, after))
            figures.append((seconds, credits, cost))
            files[f"requests/{jid}.json"] = text
        if mine:
            files[mine[0][6]] = page
        if scene is not None:
            scenes.append(scene)
    data = plan_data(head, elements, [], scenes, figures)
    files["plan.json"] = plan_json_text(data, jobs)
    return files, data


def head_of(plan: dict) -> tuple:
    """plan.json's head as ``emit.plan_data`` takes it, from plan.json's data."""
    return plan["title"], plan["source"], plan["currency"], plan["api"], plan["pricing"]


def keep_parts(path, scenes: Scenes, parts: dict, elements: tuple, head: tuple, old: dict) -> None:
    """Keep the outputs of the scenes of this build (``parts``: scene number -> outputs; those
    of scenes not to be kept left out) for the next build of the script at ``path``."""
    from . import store

    s = store()
    if s is None:
        return
    entry = {"doc": scenes.doc_key, "head": head, "elements": elements,
             "scenes": {scenes.keys[n - 1]: p for n, p in parts.items()}}
    if entry == old:
        s.touch(PARTS, (str(path),))
        return
    s.put(PARTS, (str(path),), entry, MAX_PARTS)


def keep_build(c, allow_outside: bool = False, templates: Optional[str] = None,
               pricing: Optional[str] = None, api: Optional[str] = None,
               callback_url: Optional[str] = None) -> None:
    """Keep each scene's outputs of a full build (``c``, a ``compiler.Compilation`` with its
    output) for the next build after an edit; not those of a scene with a prompt over its
    limit (KLS305: measured again when rendered, which a build after an edit does not repeat
    for the scenes it takes from here), nor any with ``--templates`` (the build after an
    edit takes the full path with them), nor with ``api`` (``--api``: the build after an edit
    takes the full path with it, see ``compiler.build_incremental``). The scenes are keyed by
    ``callback_url`` too."""
    from . import store

    if templates or api is not None or store() is None:
        return
    from ..backends.emit import _element_profiles

    program = c.program
    doc = program.main.doc
    scenes = scenes_of(program, allow_outside, templates, pricing, None, callback_url)
    if scenes is None or doc is None or len(doc.scenes) != len(scenes.keys):
        return
    main = program.main.display
    long = [d.span for d in c.diagnostics if d.code == "KLS305" and d.span.file == main]
    numbers = [n for n, sc in enumerate(doc.scenes, 1)
               if not any(sc.span.start <= s.start < max(sc.span.end, sc.span.start + 1) for s in long)]
    out = c.output.plan
    keep_parts(program.main.path, scenes, parts_of(c.plan, c.output, numbers),
               (_element_profiles(c.plan), out["elements"]), head_of(out), {})
