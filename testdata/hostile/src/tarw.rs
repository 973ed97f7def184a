//! A tar writer that writes whatever it is told: names with `..`, absolute names, links to
//! anywhere, PAX and GNU records of any size, truncated archives. The `tar` crate's builder
//! refuses most of these, which is why the corpus has its own.

/// Entry type flags.
pub mod kind {
    /// A regular file.
    pub const FILE: u8 = b'0';
    /// A hard link.
    pub const LINK: u8 = b'1';
    /// A symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// A character device.
    pub const CHAR: u8 = b'3';
    /// A block device.
    pub const BLOCK: u8 = b'4';
    /// A directory.
    pub const DIR: u8 = b'5';
    /// A fifo.
    pub const FIFO: u8 = b'6';
    /// A PAX extended header (for the next entry).
    pub const PAX: u8 = b'x';
    /// A GNU long name (for the next entry).
    pub const GNU_LONGNAME: u8 = b'L';
    /// An old-GNU sparse file.
    pub const GNU_SPARSE: u8 = b'S';
}

/// One header's fields.
#[derive(Clone, Debug)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub kind: u8,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: u64,
    pub link: &'a [u8],
    pub dev: (u32, u32),
}

impl<'a> Header<'a> {
    /// A header with ordinary defaults (0644, root, mtime 1000000000).
    pub fn new(name: &'a [u8], kind: u8) -> Header<'a> {
        Header {
            name,
            kind,
            mode: if kind == kind::DIR { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 1_000_000_000,
            link: b"",
            dev: (0, 0),
        }
    }
}

/// An archive being written.
#[derive(Default)]
pub struct Tar {
    buf: Vec<u8>,
}

fn octal(field: &mut [u8], v: u64) {
    let width = field.len() - 1;
    let s = format!("{v:0width$o}");
    let s = s.as_bytes();
    let s = &s[s.len().saturating_sub(width)..];
    field[..s.len()].copy_from_slice(s);
    field[s.len()] = 0;
}

fn put(field: &mut [u8], v: &[u8]) {
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
}

fn pad(buf: &mut Vec<u8>) {
    let rem = buf.len() % 512;
    if rem != 0 {
        buf.resize(buf.len() + 512 - rem, 0);
    }
}

/// A 512-byte ustar header block (GNU magic) for `h`, with `gnu` filling GNU-only fields.
fn block(h: &Header<'_>, gnu: impl FnOnce(&mut [u8; 512])) -> [u8; 512] {
    let mut b = [0u8; 512];
    put(&mut b[0..100], h.name);
    octal(&mut b[100..108], u64::from(h.mode));
    octal(&mut b[108..116], u64::from(h.uid));
    octal(&mut b[116..124], u64::from(h.gid));
    octal(&mut b[124..136], h.size);
    octal(&mut b[136..148], h.mtime);
    b[156] = h.kind;
    put(&mut b[157..257], h.link);
    put(&mut b[257..265], b"ustar  \0");
    put(&mut b[265..297], b"root");
    put(&mut b[297..329], b"root");
    octal(&mut b[329..337], u64::from(h.dev.0));
    octal(&mut b[337..345], u64::from(h.dev.1));
    gnu(&mut b);
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|x| u32::from(*x)).sum();
    let s = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(s.as_bytes());
    b
}

impl Tar {
    /// An empty archive.
    pub fn new() -> Tar {
        Tar::default()
    }

    /// A header block as given and then `data` (padded), with no checks whatsoever.
    pub fn raw(&mut self, h: &Header<'_>, data: &[u8]) -> &mut Tar {
        self.buf.extend_from_slice(&block(h, |_| {}));
        self.buf.extend_from_slice(data);
        pad(&mut self.buf);
        self
    }

    /// A PAX header (applies to the next entry) with these records.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Tar {
        let mut data = Vec::new();
        for (k, v) in records {
            // "%d %s=%s\n" where %d counts the whole record, itself included.
            let body = k.len() + v.len() + 3;
            let mut n = body + 1;
            while n != body + n.to_string().len() {
                n = body + n.to_string().len();
            }
            data.extend_from_slice(format!("{n} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let mut h = Header::new(b"././@PaxHeader", kind::PAX);
        h.size = data.len() as u64;
        self.raw(&h, &data)
    }

    /// An entry whose name may be of any length (a PAX `path` record when it does not fit).
    pub fn entry(&mut self, h: &Header<'_>, data: &[u8]) -> &mut Tar {
        let mut records: Vec<(&str, &[u8])> = Vec::new();
        if h.name.len() > 100 {
            records.push(("path", h.name));
        }
        if h.link.len() > 100 {
            records.push(("linkpath", h.link));
        }
        if !records.is_empty() {
            self.pax(&records);
        }
        let mut short = h.clone();
        if h.name.len() > 100 {
            short.name = &h.name[..100];
        }
        if h.link.len() > 100 {
            short.link = &h.link[..100];
        }
        self.raw(&short, data)
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        self.file_with(name, data, 0o644, 0, 0)
    }

    /// A regular file with a mode and an owner.
    pub fn file_with(
        &mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> &mut Tar {
        let mut h = Header::new(name.as_bytes(), kind::FILE);
        h.size = data.len() as u64;
        h.mode = mode;
        h.uid = uid;
        h.gid = gid;
        self.entry(&h, data)
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Tar {
        let mut h = Header::new(name.as_bytes(), kind::DIR);
        h.mode = mode;
        self.entry(&h, b"")
    }

    /// A symbolic link.
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
        let mut h = Header::new(name.as_bytes(), kind::SYMLINK);
        h.mode = 0o777;
        h.link = target.as_bytes();
        self.entry(&h, b"")
    }

    /// A hard link.
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Tar {
        let mut h = Header::new(name.as_bytes(), kind::LINK);
        h.link = target.as_bytes();
        self.entry(&h, b"")
    }

    /// A device node or fifo.
    pub fn node(&mut self, name: &str, kind: u8, mode: u32, dev: (u32, u32)) -> &mut Tar {
        let mut h = Header::new(name.as_bytes(), kind);
        h.mode = mode;
        h.dev = dev;
        self.entry(&h, b"")
    }

    /// A GNU long name record for the next entry.
    pub fn gnu_longname(&mut self, name: &[u8]) -> &mut Tar {
        let mut data = name.to_vec();
        data.push(0);
        let mut h = Header::new(b"././@LongLink", kind::GNU_LONGNAME);
        h.size = data.len() as u64;
        self.raw(&h, &data)
    }

    /// An old-GNU sparse file of `real_size` bytes whose data blocks are `blocks` (offset,
    /// bytes); at most 4 blocks (no extension headers).
    pub fn gnu_sparse(
        &mut self,
        name: &str,
        real_size: u64,
        blocks: &[(u64, Vec<u8>)],
    ) -> &mut Tar {
        assert!(blocks.len() <= 4, "extension headers are not written");
        let stored: Vec<u8> = blocks.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        let mut h = Header::new(name.as_bytes(), kind::GNU_SPARSE);
        h.size = stored.len() as u64;
        let b = block(&h, |b| {
            for (i, (off, data)) in blocks.iter().enumerate() {
                let at = 386 + i * 24;
                octal(&mut b[at..at + 12], *off);
                octal(&mut b[at + 12..at + 24], data.len() as u64);
            }
            b[482] = 0;
            octal(&mut b[483..495], real_size);
        });
        self.buf.extend_from_slice(&b);
        self.buf.extend_from_slice(&stored);
        pad(&mut self.buf);
        self
    }

    /// A PAX (format 1.0) sparse file: the map leads the data, the real name is in the PAX
    /// header and the ustar name is GNU tar's placeholder.
    pub fn pax_sparse(
        &mut self,
        name: &str,
        real_size: u64,
        blocks: &[(u64, Vec<u8>)],
    ) -> &mut Tar {
        let mut data = format!("{}\n", blocks.len()).into_bytes();
        for (off, d) in blocks {
            data.extend_from_slice(format!("{off}\n{}\n", d.len()).as_bytes());
        }
        pad(&mut data);
        for (_, d) in blocks {
            data.extend_from_slice(d);
        }
        let real = real_size.to_string();
        self.pax(&[
            ("GNU.sparse.major", b"1"),
            ("GNU.sparse.minor", b"0"),
            ("GNU.sparse.name", name.as_bytes()),
            ("GNU.sparse.realsize", real.as_bytes()),
        ]);
        let placeholder = format!("GNUSparseFile.0/{name}");
        let mut h = Header::new(placeholder.as_bytes(), kind::FILE);
        h.size = data.len() as u64;
        self.raw(&h, &data)
    }

    /// The bytes so far, without the end-of-archive blocks.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The whole archive, with its two zero blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.resize(out.len() + 1024, 0);
        out
    }
}
