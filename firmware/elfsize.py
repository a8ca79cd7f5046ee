"""ELF and object size analysis with GNU binutils: sections per memory region, symbol sizes, flash and stack.

- `sections(elf)`: every allocated section with size, VMA, LMA and whether it occupies the image (LOAD).
- `region_usage(elf, board)`: bytes per board memory region (RAM use at VMA; the image at LMA).
- `symbol_sizes(elf)`: `nm -S` sizes by symbol name (e.g. the arena arrays).
- `code_prediction(obj_dir)`: the flash bytes the linker will keep, from the objects before linking: the
  function/data input sections reachable from the roots in the GCC call graph (`-fcallgraph-info`), plus the
  newlib members they call.
- `stack_estimate(obj_dir)`: the deepest call chain's stack from `-fstack-usage` / `-fcallgraph-info` files; GCC
  reports a naked function's frame as 0 bytes, so the objects holding naked functions are disassembled and what
  their code pushes (`asm_frames`) counts instead.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edgefmr.boards import Board
from edgefmr.errors import EdgefmrError


@dataclass(frozen=True)
class Section:
    name: str
    size: int
    vma: int
    lma: int
    load: bool  # has contents in the image (not NOLOAD / .bss)


def _run(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise EdgefmrError(f"{cmd[0]} not found; install the Debian package binutils-arm-none-eabi") from None
    if r.returncode != 0:
        raise EdgefmrError(f"{' '.join(cmd)} failed: {r.stderr.strip()[:400]}")
    return r.stdout


def sections(elf: Path, objdump: str = "arm-none-eabi-objdump") -> list[Section]:
    """Allocated sections of `elf` (objdump -h)."""
    out = _run([objdump, "-h", str(elf)])
    lines = out.splitlines()
    result = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+2\*\*\d+", line)
        if not m or i + 1 >= len(lines):
            continue
        flags = lines[i + 1]
        if "ALLOC" not in flags:
            continue
        result.append(Section(m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16),
                              "LOAD" in flags and "CONTENTS" in flags))
    return result


def flash_bytes(secs: list[Section]) -> int:
    """Bytes of the program image: every section with contents (.isr_vector, .text, .rodata, .ARM.*, .data)."""
    return sum(s.size for s in secs if s.load)


def region_usage(secs: list[Section], board: Board) -> dict[str, dict[str, int]]:
    """Per memory region: `image` bytes (sections with contents, at their LMA) and `ram` bytes (sections that
    occupy RAM at run time: .data at its VMA, .bss, the arenas and the stack)."""
    usage = {r.name: {"image": 0, "ram": 0} for r in board.memory}

    def region_of(addr: int) -> str | None:
        for r in board.memory:
            if r.origin <= addr < r.end:
                return r.name
        return None

    for s in secs:
        if s.size == 0:
            continue
        if s.load and (r := region_of(s.lma)):
            usage[r]["image"] += s.size
        if (not s.load or s.vma != s.lma) and (r := region_of(s.vma)):
            usage[r]["ram"] += s.size
    return {k: v for k, v in usage.items() if v["image"] or v["ram"]}


def symbol_sizes(elf: Path, nm: str = "arm-none-eabi-nm") -> dict[str, int]:
    """Symbol name -> size in bytes (symbols nm -S gives a size for)."""
    out = _run([nm, "-S", str(elf)])
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


# ---------------------------------------------------------------------------------------------- call graph

@dataclass
class CallGraph:
    """Functions (by name, qualified by file for static ones) with stack frames and callees."""

    frame: dict[str, int]
    dynamic: set[str]
    calls: dict[str, set[str]]
    file_of: dict[str, str]


_NODE_RE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE_RE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def call_graph(obj_dir: Path) -> CallGraph:
    """The whole program's call graph from every `*.ci` file in `obj_dir` (GCC -fcallgraph-info=su)."""
    frame: dict[str, int] = {}
    dynamic: set[str] = set()
    calls: dict[str, set[str]] = {}
    file_of: dict[str, str] = {}
    cis = sorted(Path(obj_dir).glob("*.ci"))
    if not cis:
        raise EdgefmrError(f"no call-graph files (*.ci) in {obj_dir}; objects must be built with -fcallgraph-info=su")
    for ci in cis:
        text = ci.read_text()
        for title, label in _NODE_RE.findall(text):
            m = re.search(r"\\n(\d+) bytes \(([^)]*)\)", label)
            if m:
                frame[title] = max(frame.get(title, 0), int(m.group(1)))
                file_of[title] = ci.stem
                if "dynamic" in m.group(2):
                    dynamic.add(title)
        for src, dst in _EDGE_RE.findall(text):
            calls.setdefault(src, set()).add(dst)
    return CallGraph(frame, dynamic, calls, file_of)


#: Roots of the firmware's call graph: the reset handler and the exception handlers of the vector table.
ROOTS = ("Reset_Handler", "HardFault_Handler", "Default_Handler", "SysTick_Handler")
#: Stack of C library leaf functions (newlib-nano memcpy/memset/memmove push at most 4 registers).
LIBC_LEAF_STACK = 16


def _callees(g: CallGraph, fn: str) -> set[str]:
    out = set(g.calls.get(fn, ()))
    if "__indirect_call" in out:
        # The only indirect calls in edgefmr firmware go through the layer table (efm_run / efm_run_layer).
        out.discard("__indirect_call")
        # Static functions are titled "file:name" in the call graph.
        out |= {f for f in g.frame if f.rsplit(":", 1)[-1].startswith("efm_layer_")}
    return out


_PUSH_RE = re.compile(r"\t(?:push(?:\.w)?|stmdb(?:\.w)?\tsp!,)\t?\s*\{([^}]*)\}")
_VPUSH_RE = re.compile(r"\tvpush(?:\.\d+)?\t\{([^}]*)\}")
_SUB_SP_RE = re.compile(r"\tsub(?:\.w|w)?\tsp, (?:sp, )?#(\d+)")
_FN_RE = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")


def _registers(reg_list: str) -> list[str]:
    """The registers of an objdump register list (`r4, r5, lr` or `d8-d15`)."""
    out: list[str] = []
    for item in (x.strip() for x in reg_list.split(",")):
        m = re.fullmatch(r"([a-z]+)(\d+)-[a-z]+(\d+)", item)
        out += [f"{m.group(1)}{i}" for i in range(int(m.group(2)), int(m.group(3)) + 1)] if m else [item]
    return out


def asm_frames(obj: Path, objdump: str = "arm-none-eabi-objdump") -> dict[str, int]:
    """Bytes each function of `obj` pushes or subtracts from sp anywhere in its code (an upper bound on its frame,
    for naked functions whose prologue GCC does not see): push/stmdb sp! (4 per core register), vpush (8 per d, 4
    per s register), sub sp."""
    frames: dict[str, int] = {}
    fn = None
    for line in _run([objdump, "-d", str(obj)]).splitlines():
        m = _FN_RE.match(line)
        if m:
            fn = m.group(1)
            frames[fn] = 0
            continue
        if fn is None:
            continue
        if m := _PUSH_RE.search(line):
            frames[fn] += 4 * len(_registers(m.group(1)))
        elif m := _VPUSH_RE.search(line):
            frames[fn] += sum(8 if r.startswith("d") else 4 for r in _registers(m.group(1)))
        elif m := _SUB_SP_RE.search(line):
            frames[fn] += int(m.group(1))
    return frames


def stack_estimate(obj_dir: Path, roots: tuple[str, ...] = ("Reset_Handler",),
                   naked_objects: tuple[Path, ...] = ()) -> dict:
    """Deepest stack use from `roots`: the maximum over call chains of the summed frames (bytes), the chain, and
    the functions with dynamic frames. Calls into the C library count LIBC_LEAF_STACK bytes. Interrupt handlers
    nest on top of the thread stack: the deepest handler chain is added (plus 104 bytes of FPU exception frame).
    `naked_objects`: objects with naked functions; their functions' frames are at least what `asm_frames` finds."""
    g = call_graph(obj_dir)
    for obj in naked_objects:
        pushed = asm_frames(obj)
        for title, size in g.frame.items():
            name = title.rsplit(":", 1)[-1]
            if g.file_of.get(title) == obj.stem and pushed.get(name, 0) > size:
                g.frame[title] = pushed[name]
    memo: dict[str, tuple[int, list[str]]] = {}

    def depth(fn: str, active: frozenset[str]) -> tuple[int, list[str]]:
        if fn in memo:
            return memo[fn]
        if fn in active:
            raise EdgefmrError(f"recursion through {fn}: no static stack bound")
        if fn not in g.frame:
            return LIBC_LEAF_STACK, [fn]
        best, chain = 0, []
        for callee in _callees(g, fn):
            d, ch = depth(callee, active | {fn})
            if d > best:
                best, chain = d, ch
        memo[fn] = (g.frame[fn] + best, [fn, *chain])
        return memo[fn]

    main_bytes, main_chain = max((depth(r, frozenset()) for r in roots if r in g.frame), default=(0, []))
    handlers = [h for h in ("SysTick_Handler", "HardFault_Handler") if h in g.frame]
    irq = max((depth(h, frozenset())[0] for h in handlers), default=0)
    # An exception pushes 8 words, 26 with the FPU's extended frame (lazy stacking reserves the space).
    exception_frame = 104 if handlers else 0
    return {"bytes": main_bytes + irq + exception_frame, "thread_bytes": main_bytes, "handler_bytes": irq,
            "chain": main_chain, "dynamic": sorted(g.dynamic)}


# ---------------------------------------------------------------------------------------------- code size

@dataclass
class _Obj:
    path: Path
    sections: dict[str, tuple[int, int, bool]]  # name -> (size, alignment, has contents)
    symbols: dict[str, str]  # defined symbol -> section
    globals: set[str]  # strong global definitions
    weak: set[str]
    relocs: dict[str, set[str]]  # section -> referenced symbol/section names


def _parse_object(obj: Path, objdump: str) -> _Obj:
    text = _run([objdump, "-h", "-t", "-r", str(obj)])
    lines = text.splitlines()
    secs: dict[str, tuple[int, int, bool]] = {}
    syms: dict[str, str] = {}
    glob: set[str] = set()
    weak: set[str] = set()
    relocs: dict[str, set[str]] = {}
    current: str | None = None
    mode = ""
    for i, line in enumerate(lines):
        if line.startswith("Sections:"):
            mode = "h"
            continue
        if line.startswith("SYMBOL TABLE:"):
            mode = "t"
            continue
        m = re.match(r"RELOCATION RECORDS FOR \[(.+)\]:", line)
        if m:
            mode, current = "r", m.group(1)
            relocs.setdefault(current, set())
            continue
        if mode == "h":
            m = re.match(r"\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+2\*\*(\d+)", line)
            if m and i + 1 < len(lines) and "ALLOC" in lines[i + 1]:
                secs[m.group(1)] = (int(m.group(2), 16), 1 << int(m.group(3)), "CONTENTS" in lines[i + 1])
        elif mode == "t":
            m = re.match(r"[0-9a-f]+ (.{7}) (\S+)\s+[0-9a-f]+\s+(.+)$", line)
            if m and m.group(2) != "*UND*" and m.group(2) != "*ABS*":
                name = m.group(3).strip().split()[-1]  # drop a visibility word (".hidden")
                syms[name] = m.group(2)
                if m.group(1)[1] == "w":
                    weak.add(name)
                elif m.group(1)[0] == "g":
                    glob.add(name)
        elif mode == "r" and current is not None:
            m = re.match(r"[0-9a-f]+\s+\S+\s+(\S+)", line)
            if m and m.group(1) != "VALUE":
                relocs[current].add(re.sub(r"[+-]0x[0-9a-f]+$", "", m.group(1)))
    return _Obj(obj, secs, syms, glob, weak, relocs)


@lru_cache(maxsize=8)
def _libraries(cc: str, cflags: tuple[str, ...]) -> tuple[Path, ...]:
    """newlib-nano's libc and libgcc of the multilib selected by `cflags`, in link order."""
    out = []
    for lib in ("libc_nano.a", "libgcc.a"):
        path = Path(_run([cc, *cflags, "--specs=nano.specs", f"-print-file-name={lib}"]).strip())
        if path.is_file():
            out.append(path)
    return tuple(out)


@lru_cache(maxsize=16)
def _archive_index(lib: Path, nm: str) -> dict[str, str]:
    """Global symbol -> archive member defining it (the first one, as the linker picks)."""
    out = subprocess.run([nm, "-A", "--defined-only", str(lib)], capture_output=True, text=True).stdout
    index: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r".*?:([^:]+):\s*[0-9a-f]*\s+([A-Z])\s+(\S+)$", line)
        if m:
            index.setdefault(m.group(3), m.group(1))
    return index


@lru_cache(maxsize=64)
def _archive_member(lib: Path, member: str, objdump: str) -> _Obj:
    import tempfile

    data = subprocess.run(["arm-none-eabi-ar", "p", str(lib), member], capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / member
        path.write_bytes(data)
        return _parse_object(path, objdump)


def flash_prediction(objects: list[Path], objdump: str = "arm-none-eabi-objdump",
                     cc: str = "arm-none-eabi-gcc", cflags: tuple[str, ...] = (),
                     roots: tuple[str, ...] = ("Reset_Handler",), nm: str = "arm-none-eabi-nm") -> dict[str, int]:
    """Bytes of the image that linking `objects` with --gc-sections keeps, predicted from the objects: the input
    sections reachable through relocations from `roots` and the .isr_vector table (what the linker keeps), their
    .ARM.exidx entries, the newlib-nano / libgcc archive members they pull in (transitively), each section padded
    to its alignment. Also the .data/.bss bytes they bring to RAM (without the arenas)."""
    objs = [_parse_object(o, objdump) for o in objects]
    libs = _libraries(cc, cflags)
    global_def: dict[str, tuple[int, str]] = {}

    def define(k: int) -> None:
        o = objs[k]
        for name in o.weak:
            global_def.setdefault(name, (k, o.symbols[name]))
        for name in o.globals:
            if name not in global_def or objs[global_def[name][0]].symbols.get(name) is None or \
                    name in objs[global_def[name][0]].weak:
                global_def[name] = (k, o.symbols[name])

    for k in range(len(objs)):
        define(k)
    pulled: dict[tuple[Path, str], int] = {}

    def from_archive(sym: str) -> tuple[int, str] | None:
        for lib in libs:
            member = _archive_index(lib, nm).get(sym)
            if member is None:
                continue
            key = (lib, member)
            if key not in pulled:
                objs.append(_archive_member(lib, member, objdump))
                pulled[key] = len(objs) - 1
                define(pulled[key])
            o = objs[pulled[key]]
            return (pulled[key], o.symbols[sym]) if sym in o.symbols else None
        return None

    todo: list[tuple[int, str]] = []
    for k, o in enumerate(objs):
        todo += [(k, s) for s in o.sections if s == ".isr_vector"]
        todo += [(k, o.symbols[r]) for r in roots if r in o.symbols]
    seen: set[tuple[int, str]] = set()
    while todo:
        k, sec = todo.pop()
        if (k, sec) in seen or sec not in objs[k].sections:
            continue
        seen.add((k, sec))
        exidx = ".ARM.exidx" + (sec[len(".text"):] if sec.startswith(".text") else sec)
        if sec.startswith(".text") and exidx in objs[k].sections:
            todo.append((k, exidx))
        for ref in objs[k].relocs.get(sec, ()):
            o = objs[k]
            if ref in o.sections:
                todo.append((k, ref))
            elif ref in o.symbols and ref not in o.weak and ref not in o.globals:
                todo.append((k, o.symbols[ref]))
            elif ref in global_def:
                todo.append(global_def[ref])
            elif (hit := from_archive(ref)) is not None:
                todo.append(hit)
    image = ram = lib_bytes = 0
    lib_objs = set(pulled.values())
    for k, sec in seen:
        size, align, contents = objs[k].sections[sec]
        padded = (size + align - 1) // align * align
        if contents:
            image += padded
            if k in lib_objs:
                lib_bytes += padded
        if sec.startswith((".data", ".bss")) and not sec.startswith(".bss.efm_arena."):
            ram += padded  # the arenas are sized by the planner and placed in their own regions
    return {"image": image, "libraries": lib_bytes, "ram": ram, "library_members": len(pulled)}
