#!/usr/bin/env python3
"""Generate the layer-tar test corpus for test_unpack and the tar fuzzer.

    hostile/escape-*.tar  try to write outside the layer: unpacking must fail with EPERM
    hostile/bad-*         not a valid (supported) tar: unpacking must fail
    edge/*.tar            valid but unusual: unpacking must succeed (test_unpack checks
                          what lands on disk)

Run it from anywhere; it rewrites the files next to itself, and copies all of them into
fuzz/corpus/tar/ as the tar fuzzer's seeds (named <dir>-<file>). The output is deterministic
(fixed mtimes, owners, no user names), so regenerating gives the same bytes.
"""
import gzip
import io
import os
import shutil
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ_CORPUS = os.path.join(HERE, "..", "..", "..", "..", "fuzz", "corpus", "tar")
MTIME = 1700000000


def info(name, type=tarfile.REGTYPE, mode=0o644, size=0, uid=0, gid=0, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.mode = mode
    ti.size = size
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = MTIME
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def reg(name, data=b"", **kw):
    return info(name, size=len(data), **kw), data


def dirent(name, mode=0o755, **kw):
    return info(name, type=tarfile.DIRTYPE, mode=mode, **kw), None


def sym(name, target):
    return info(name, type=tarfile.SYMTYPE, mode=0o777, linkname=target), None


def hard(name, target):
    return info(name, type=tarfile.LNKTYPE, linkname=target), None


def write(path, entries, fmt=tarfile.PAX_FORMAT, tail=b""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(buf.getvalue() + tail)
    return buf.getvalue()


def sparse_entry(name, realsize, chunks):
    """A PAX 1.0 sparse file (GNU tar's --sparse-version=1.0 layout): the map comes first
    in the data, as decimal lines padded to a block, then the chunks back to back."""
    m = "%d\n" % len(chunks) + "".join("%d\n%d\n" % (off, len(d)) for off, d in chunks)
    m = m.encode()
    m += b"\0" * (-len(m) % 512)
    data = m + b"".join(d for _, d in chunks)
    ti = info("GNUSparseFile.0/" + name, size=len(data))
    ti.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(realsize),
    }
    return ti, data


def main():
    long_dir = "d" * 120
    long_name = long_dir + "/" + "n" * 79  # 200 characters

    # ---- escapes: every one must be refused with EPERM ----
    write("hostile/escape-abs-file.tar", [reg("/tmp/berth-escape-abs", b"x")])
    write("hostile/escape-abs-dir.tar", [dirent("/tmp/berth-escape-absdir/")])
    write("hostile/escape-dotdot.tar", [reg("../berth-escape-dotdot", b"x")])
    write("hostile/escape-dotdot-deep.tar",
          [dirent("a/"), dirent("a/b/"), reg("a/b/../../../berth-escape-deep", b"x")])
    write("hostile/escape-dotdot-pax-long.tar",
          [reg("x" * 150 + "/../../../../berth-escape-paxlong", b"x")])
    write("hostile/escape-gnu-long-abs.tar",
          [reg("/tmp/" + "y" * 200 + "/berth-escape", b"x")], fmt=tarfile.GNU_FORMAT)
    write("hostile/escape-symlink-abs-write.tar",
          [sym("evil", "/tmp"), reg("evil/berth-escape-symlink", b"x")])
    write("hostile/escape-symlink-rel-write.tar",
          [sym("evil", "../../.."), reg("evil/berth-escape-symrel", b"x")])
    write("hostile/escape-symlink-chain.tar",
          [sym("a", "b"), sym("b", "/"), reg("a/tmp/berth-escape-chain", b"x")])
    write("hostile/escape-symlink-nested.tar",
          [dirent("d/"), sym("d/l", "/tmp"), reg("d/l/berth-escape-nested", b"x")])
    write("hostile/escape-symlink-dir-entry.tar",
          [sym("evil", "/tmp"), dirent("evil/berth-escape-dirent/")])
    write("hostile/escape-symlink-symlink.tar",
          [sym("evil", "/tmp"), sym("evil/berth-escape-link", "/etc/passwd")])
    write("hostile/escape-hardlink-abs.tar", [hard("h", "/etc/passwd")])
    write("hostile/escape-hardlink-dotdot.tar", [hard("h", "../../../../../../etc/passwd")])
    write("hostile/escape-hardlink-via-symlink.tar", [sym("s", "/etc"), hard("h", "s/passwd")])
    write("hostile/escape-hardlink-into-symlink-dir.tar",
          [reg("f", b"x"), sym("s", "/tmp"), hard("s/berth-escape-hl", "f")])
    write("hostile/escape-whiteout-dot.tar", [dirent("a/"), reg("a/.wh..", b"")])
    write("hostile/escape-whiteout-dotdot.tar", [dirent("a/"), reg("a/.wh...", b"")])
    write("hostile/escape-whiteout-via-symlink.tar",
          [sym("s", "/tmp"), reg("s/.wh.berth-escape-wh", b"")])
    write("hostile/escape-opaque-via-symlink.tar",
          [sym("s", "/tmp"), reg("s/.wh..wh..opq", b"")])

    # ---- not tar at all, or broken ----
    good = write("hostile/bad-placeholder.tar", [reg("a", b"hello" * 1000)])
    os.unlink(os.path.join(HERE, "hostile/bad-placeholder.tar"))
    with open(os.path.join(HERE, "hostile/bad-truncated.tar"), "wb") as f:
        f.write(good[:512 + 1000])
    with open(os.path.join(HERE, "hostile/bad-truncated.tar.gz"), "wb") as f:
        gz = gzip.compress(good, mtime=0)
        f.write(gz[:len(gz) // 2])
    with open(os.path.join(HERE, "hostile/bad-garbage.bin"), "wb") as f:
        f.write(bytes((i * 37 + 11) % 256 for i in range(4096)))
    broken = bytearray(good)
    broken[148:156] = b"0000000\0"  # header checksum
    with open(os.path.join(HERE, "hostile/bad-checksum.tar"), "wb") as f:
        f.write(bytes(broken))

    # ---- valid but unusual ----
    write("edge/whiteouts.tar", [
        dirent("a/"), reg("a/.wh.gone"), reg("a/kept", b"k"),
        dirent("b/"), reg("b/.wh..wh..opq"), reg("b/new", b"n"),
        reg(".wh.top"),
        dirent("c/"), reg("c/.wh..wh.plnk"),
        reg("implicit/.wh..wh..opq"),  # opaque dir with no entry of its own
    ])
    write("edge/links.tar", [
        reg("f", b"content"), hard("h", "f"), hard("./h2", "./f"),
        sym("abs", "/etc/passwd"), sym("rel", "../../outside"), sym("dangling", "nowhere"),
        # A hard link to a symlink links the symlink itself; writing a file over the
        # name afterwards replaces it, it does not write through it.
        hard("hs", "abs"), reg("abs", b"replaced"),
    ])
    x1 = info("xattr", size=1)
    x1.pax_headers = {
        "SCHILY.xattr.user.berth": "value",
        "SCHILY.xattr.trusted.overlay.opaque": "y",
        "SCHILY.xattr.trusted.overlay.redirect": "/etc",
        "SCHILY.xattr.user.overlay.opaque": "y",
    }
    x2 = info("xdir/", type=tarfile.DIRTYPE, mode=0o755)
    x2.pax_headers = {"SCHILY.xattr.trusted.overlay.opaque": "y"}
    write("edge/xattrs.tar", [(x1, b"x"), (x2, None)])
    write("edge/devices.tar", [
        (info("null", type=tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3), None),
        (info("loop9", type=tarfile.BLKTYPE, mode=0o660, devmajor=7, devminor=9, gid=6), None),
        (info("fifo", type=tarfile.FIFOTYPE, mode=0o600), None),
        (info("whiteout-dev", type=tarfile.CHRTYPE, mode=0, devmajor=0, devminor=0), None),
    ])
    write("edge/sparse.tar", [
        sparse_entry("sparse", 16 << 20,
                     [(0, b"A" * 4096), (8 << 20, b"B" * 4096), ((16 << 20) - 1, b"C")]),
    ])
    write("edge/longnames-pax.tar", [reg(long_name, b"long"),
                                     sym(long_dir + "/ln", long_name)])
    write("edge/longnames-gnu.tar", [reg(long_name, b"long"),
                                     sym(long_dir + "/ln", long_name),
                                     hard(long_dir + "/hl", long_name)], fmt=tarfile.GNU_FORMAT)
    write("edge/modes.tar", [
        reg("suid", b"#!", mode=0o4755),
        reg("sgid", b"#!", mode=0o2711, gid=42),
        dirent("sticky/", mode=0o1777),
        dirent("ro/", mode=0o555),
        reg("ro/file", b"r", mode=0o400, uid=1000, gid=1000),
        reg("owned", b"o", mode=0o640, uid=1234, gid=5678),
    ])
    write("edge/root-entry.tar", [dirent("./", mode=0o751), reg("./a", b"a")])
    write("edge/empty.tar", [])
    with open(os.path.join(HERE, "edge/empty-file.tar"), "wb") as f:
        pass
    # A hard link to a symlink that carries data: the data must not go through the link.
    hl = info("h", type=tarfile.LNKTYPE, linkname="s", size=5)
    hl.pax_headers = {"size": "5"}  # tarfile itself writes 0 into a link's header
    write("edge/hardlink-symlink-data.tar",
          [sym("s", "/tmp/berth-escape-hardlink-data"), (hl, b"owned")])
    write("edge/trailing-data.tar", [reg("t", b"t")], tail=b"junk after the end" * 10)
    # Non-ASCII names must come out byte for byte whatever the locale (berth runs in "C").
    write("edge/utf8-pax.tar", [reg("h\u00e9llo-w\u00f6rld", b"u"),
                                reg("\u65e5\u672c/\u30d5\u30a1\u30a4\u30eb", b"j")])
    write("edge/utf8-gnu.tar", [reg("h\u00e9llo-w\u00f6rld", b"u"),
                                reg("\u65e5\u672c/\u30d5\u30a1\u30a4\u30eb", b"j")],
          fmt=tarfile.GNU_FORMAT)
    write("edge/ustar.tar", [dirent("u/"), reg("u/f", b"u")], fmt=tarfile.USTAR_FORMAT)
    write("edge/overwrite.tar", [
        reg("f", b"one"), reg("f", b"two"),
        dirent("d/"), reg("d", b"file now"),
        reg("x", b"file"), dirent("x/"),
    ])


def seed_fuzzer():
    os.makedirs(FUZZ_CORPUS, exist_ok=True)
    for sub in ("hostile", "edge"):
        for name in sorted(os.listdir(os.path.join(HERE, sub))):
            shutil.copyfile(os.path.join(HERE, sub, name),
                            os.path.join(FUZZ_CORPUS, sub + "-" + name))


if __name__ == "__main__":
    main()
    seed_fuzzer()
