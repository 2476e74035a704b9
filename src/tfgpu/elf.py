"""Minimal read-only ELF reader: DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH of a shared object."""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO, Union

from tfgpu.records import dataclass

__all__ = ["DynamicInfo", "ElfError", "ElfSource", "read_dynamic"]


class ElfError(ValueError):
    """The input is not a readable ELF file (bad magic, unsupported layout, truncated or inconsistent)."""


ElfSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]


@dataclass(frozen=True)
class DynamicInfo:
    """What the dynamic section says; every tuple keeps the file's order."""

    elf_class: int  # 32 or 64
    byte_order: str  # "little" or "big"
    machine: int  # e_machine (62 = x86-64, 183 = AArch64, ...)
    elf_type: int  # e_type (2 = executable, 3 = shared object / PIE)
    is_dynamic: bool  # False when the file has no dynamic section (static executable, object file)
    needed: tuple[str, ...] = ()
    soname: str | None = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()


_ELF_MAGIC = b"\x7fELF"
_ELFCLASS32, _ELFCLASS64 = 1, 2
_ELFDATA2LSB, _ELFDATA2MSB = 1, 2
_SHT_DYNAMIC = 6
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29

_MAX_HEADERS = 65536  # section / program header entries we are willing to walk
_MAX_DYNAMIC_BYTES = 4 * 1024 * 1024  # a real .dynamic is a few KiB
_MAX_STRING = 1024 * 1024  # longest DT_* string we accept (real RUNPATHs can reach tens of KiB)
_MAX_STRINGS_TOTAL = 8 * 1024 * 1024  # all DT_* strings of one file together (entries may share one long string)
_MAX_NEEDED = 4096  # DT_NEEDED / RPATH / RUNPATH entries kept


@dataclass(frozen=True)
class _Layout:
    elf_class: int
    endian: str  # struct prefix "<" or ">"
    e_type: int
    e_machine: int
    e_phoff: int
    e_shoff: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int


class _Reader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.string_bytes = 0  # read by cstring() so far: bounded by _MAX_STRINGS_TOTAL

    def read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError(f"truncated or corrupt ELF: {what} at offset {offset} (+{length} bytes) "
                           f"lies outside the {self.size}-byte file")
        self.fh.seek(offset)
        data = self.fh.read(length)
        if len(data) != length:
            raise ElfError(f"truncated ELF: short read of {what} at offset {offset}")
        return data

    def cstring(self, offset: int, limit: int, what: str) -> str:
        """A NUL-terminated string starting at `offset`, not reading past `limit`."""
        end = min(limit, self.size, offset + _MAX_STRING)
        if offset < 0 or offset >= end:
            raise ElfError(f"corrupt ELF: {what} string offset {offset} is outside its string table")
        chunks: list[bytes] = []
        pos = offset
        while pos < end:
            chunk = self.read(pos, min(4096, end - pos), what)
            self.string_bytes += len(chunk)
            if self.string_bytes > _MAX_STRINGS_TOTAL:
                raise ElfError(f"corrupt ELF: its dynamic strings add up to more than {_MAX_STRINGS_TOTAL} bytes")
            nul = chunk.find(b"\0")
            if nul >= 0:
                chunks.append(chunk[:nul])
                return b"".join(chunks).decode("utf-8", "surrogateescape")
            chunks.append(chunk)
            pos += len(chunk)
        raise ElfError(f"corrupt ELF: {what} string at offset {offset} is not NUL-terminated")


def _parse_header(r: _Reader) -> _Layout:
    ident = r.read(0, 16, "ELF identification") if r.size >= 16 else b""
    if len(ident) < 16 or ident[:4] != _ELF_MAGIC:
        raise ElfError("not an ELF file (missing \\x7fELF magic)" if r.size >= 4 and ident[:4] != _ELF_MAGIC
                       else "not an ELF file (too short for an ELF header)")
    ei_class, ei_data, ei_version = ident[4], ident[5], ident[6]
    if ei_class not in (_ELFCLASS32, _ELFCLASS64):
        raise ElfError(f"unsupported ELF class {ei_class} (expected 1 = ELF32 or 2 = ELF64)")
    if ei_data not in (_ELFDATA2LSB, _ELFDATA2MSB):
        raise ElfError(f"unsupported ELF data encoding {ei_data} (expected 1 = little or 2 = big endian)")
    if ei_version != 1:
        raise ElfError(f"unsupported ELF version {ei_version}")
    endian = "<" if ei_data == _ELFDATA2LSB else ">"
    if ei_class == _ELFCLASS64:
        fmt = endian + "HHIQQQIHHHHHH"
    else:
        fmt = endian + "HHIIIIIHHHHHH"
    hdr = r.read(16, struct.calcsize(fmt), "ELF header")
    (e_type, e_machine, _e_version, _e_entry, e_phoff, e_shoff, _e_flags, _e_ehsize,
     e_phentsize, e_phnum, e_shentsize, e_shnum, _e_shstrndx) = struct.unpack(fmt, hdr)
    return _Layout(64 if ei_class == _ELFCLASS64 else 32, endian, e_type, e_machine,
                   e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum)


def _section_headers(r: _Reader, lay: _Layout) -> list[tuple[int, int, int, int, int, int]]:
    """(sh_type, sh_addr, sh_offset, sh_size, sh_link, sh_entsize) for each section."""
    if lay.e_shoff == 0:
        return []
    if lay.elf_class == 64:
        fmt = lay.endian + "IIQQQQIIQQ"
    else:
        fmt = lay.endian + "IIIIIIIIII"
    need = struct.calcsize(fmt)
    if lay.e_shentsize < need:
        raise ElfError(f"corrupt ELF: section header entry size {lay.e_shentsize} is smaller than {need}")
    count = lay.e_shnum
    if count == 0:  # extended numbering: the real count is in section 0's sh_size
        first = struct.unpack(fmt, r.read(lay.e_shoff, need, "section header 0"))
        count = first[5]
    if count > _MAX_HEADERS:
        raise ElfError(f"corrupt ELF: {count} section headers")
    out = []
    for i in range(count):
        f = struct.unpack(fmt, r.read(lay.e_shoff + i * lay.e_shentsize, need, f"section header {i}"))
        # name, type, flags, addr, offset, size, link, info, addralign, entsize
        out.append((f[1], f[3], f[4], f[5], f[6], f[9]))
    return out


def _program_headers(r: _Reader, lay: _Layout) -> list[tuple[int, int, int, int, int]]:
    """(p_type, p_offset, p_vaddr, p_filesz, p_memsz) for each segment."""
    if lay.e_phoff == 0 or lay.e_phnum == 0:
        return []
    if lay.elf_class == 64:
        fmt = lay.endian + "IIQQQQQQ"  # type, flags, offset, vaddr, paddr, filesz, memsz, align
    else:
        fmt = lay.endian + "IIIIIIII"  # type, offset, vaddr, paddr, filesz, memsz, flags, align
    need = struct.calcsize(fmt)
    if lay.e_phentsize < need:
        raise ElfError(f"corrupt ELF: program header entry size {lay.e_phentsize} is smaller than {need}")
    count = lay.e_phnum
    if count > _MAX_HEADERS:
        raise ElfError(f"corrupt ELF: {count} program headers")
    out = []
    for i in range(count):
        f = struct.unpack(fmt, r.read(lay.e_phoff + i * lay.e_phentsize, need, f"program header {i}"))
        if lay.elf_class == 64:
            out.append((f[0], f[2], f[3], f[5], f[6]))
        else:
            out.append((f[0], f[1], f[2], f[4], f[5]))
    return out


def _vaddr_to_offset(loads: list[tuple[int, int, int, int, int]], vaddr: int) -> int | None:
    for _ptype, p_offset, p_vaddr, p_filesz, _memsz in loads:
        if p_vaddr <= vaddr < p_vaddr + p_filesz:
            return p_offset + (vaddr - p_vaddr)
    return None


def _dynamic_entries(r: _Reader, lay: _Layout, offset: int, size: int) -> list[tuple[int, int]]:
    entsize = 16 if lay.elf_class == 64 else 8
    if size > _MAX_DYNAMIC_BYTES:
        raise ElfError(f"corrupt ELF: dynamic section of {size} bytes")
    data = r.read(offset, size - size % entsize, "dynamic section")
    fmt = lay.endian + ("qQ" if lay.elf_class == 64 else "iI")
    entries = []
    for tag, val in struct.iter_unpack(fmt, data):
        if tag == _DT_NULL:
            break
        entries.append((tag, val))
    return entries


def _split_path(value: str) -> tuple[str, ...]:
    return tuple(value.split(":")) if value else ()


def _read(r: _Reader) -> DynamicInfo:
    lay = _parse_header(r)
    byte_order = "little" if lay.endian == "<" else "big"

    def info(is_dynamic: bool, needed: tuple[str, ...] = (), soname: str | None = None,
             rpath: tuple[str, ...] = (), runpath: tuple[str, ...] = ()) -> DynamicInfo:
        return DynamicInfo(elf_class=lay.elf_class, byte_order=byte_order, machine=lay.e_machine,
                           elf_type=lay.e_type, is_dynamic=is_dynamic, needed=needed, soname=soname,
                           rpath=rpath, runpath=runpath)

    sections = _section_headers(r, lay)
    dyn_off = dyn_size = None
    strtab_off = strtab_end = None
    for sh_type, _addr, sh_offset, sh_size, sh_link, _entsize in sections:
        if sh_type == _SHT_DYNAMIC:
            dyn_off, dyn_size = sh_offset, sh_size
            if 0 < sh_link < len(sections):
                link = sections[sh_link]
                strtab_off, strtab_end = link[2], link[2] + link[3]
            break
    segments: list[tuple[int, int, int, int, int]] | None = None
    if dyn_off is None:  # stripped section headers (sstrip) or none at all: use PT_DYNAMIC
        segments = _program_headers(r, lay)
        for p_type, p_offset, _vaddr, p_filesz, _memsz in segments:
            if p_type == _PT_DYNAMIC:
                dyn_off, dyn_size = p_offset, p_filesz
                break
    if dyn_off is None or not dyn_size:
        return info(False)
    entries = _dynamic_entries(r, lay, dyn_off, dyn_size)
    if strtab_off is None:
        strtab_vaddr = next((v for t, v in entries if t == _DT_STRTAB), None)
        strsz = next((v for t, v in entries if t == _DT_STRSZ), None)
        if strtab_vaddr is None:
            if any(t in (_DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_RUNPATH) for t, _ in entries):
                raise ElfError("corrupt ELF: dynamic section has string entries but no DT_STRTAB")
            return info(True)
        if segments is None:
            segments = _program_headers(r, lay)
        off = _vaddr_to_offset([s for s in segments if s[0] == _PT_LOAD], strtab_vaddr)
        if off is None:
            raise ElfError(f"corrupt ELF: DT_STRTAB address {strtab_vaddr:#x} is not in any PT_LOAD segment")
        strtab_off = off
        strtab_end = off + strsz if strsz else r.size
    assert strtab_end is not None
    needed: list[str] = []
    soname: str | None = None
    rpath: list[str] = []
    runpath: list[str] = []
    for tag, val in entries:
        if tag in (_DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_RUNPATH):
            if len(needed) + len(rpath) + len(runpath) >= _MAX_NEEDED:
                raise ElfError(f"corrupt ELF: more than {_MAX_NEEDED} DT_NEEDED/RPATH/RUNPATH entries")
        if tag == _DT_NEEDED:
            needed.append(r.cstring(strtab_off + val, strtab_end, "DT_NEEDED"))
        elif tag == _DT_SONAME and soname is None:
            soname = r.cstring(strtab_off + val, strtab_end, "DT_SONAME")
        elif tag == _DT_RPATH:
            rpath.extend(_split_path(r.cstring(strtab_off + val, strtab_end, "DT_RPATH")))
        elif tag == _DT_RUNPATH:
            runpath.extend(_split_path(r.cstring(strtab_off + val, strtab_end, "DT_RUNPATH")))
    return info(True, tuple(needed), soname, tuple(rpath), tuple(runpath))


def read_dynamic(source: ElfSource) -> DynamicInfo:
    """Read the dynamic-section facts of an ELF file.

    `source` is a path (opened read-only; only the headers, the dynamic section and the strings it
    points to are read, never the whole file), the file's bytes, or a seekable binary file object
    (its position is not restored). Nothing is loaded or executed. Raises ElfError on input that is
    not a well-formed ELF file or a path that is not a regular file (a FIFO or a device is never
    opened: it could block or never end), and OSError when a path cannot be opened or read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return _read(_Reader(io.BytesIO(data), len(data)))
    if isinstance(source, (str, os.PathLike)):
        from tfgpu.safeio import BadInput, open_regular

        os.stat(source)  # a missing or unreachable path: OSError, as documented
        try:
            fh = open_regular(os.fspath(source))
        except BadInput as exc:  # a FIFO or a device is never opened for reading (it could block or never end)
            raise ElfError(exc.problem) from None
        with fh:
            return _read(_Reader(fh, os.fstat(fh.fileno()).st_size))
    try:
        seekable = source.seekable()
    except AttributeError:
        seekable = False
    if not seekable:
        raise ElfError("ELF input must be a path, bytes or a seekable binary file object")
    size = source.seek(0, io.SEEK_END)
    return _read(_Reader(source, size))
