//! Extracting archives in memory under limits, reporting every hostile entry as a finding.
//!
//! Nothing is written to disk and no link is followed: a package is untrusted bytes. Every
//! decompressed byte passes through a meter that stops extraction once the archive expands
//! more than [`Limits::max_ratio`] times the compressed bytes read so far, or the whole
//! artifact past [`Limits::max_total_bytes`], so a bomb is caught after a few megabytes
//! instead of after gigabytes. Entries are read through `take(limit + 1)`, so a header that
//! lies about its size cannot make us allocate more than the per-file limit.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Cursor, Read};
use std::rc::Rc;
use std::sync::mpsc;

use crate::{Ecosystem, Finding, Severity};

/// Bounds on what one artifact may expand to.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_total_bytes: u64,
    pub max_file_bytes: u64,
    pub max_files: usize,
    /// Largest allowed ratio of expanded to compressed bytes.
    pub max_ratio: u64,
    /// How deep archives inside archives are opened.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_total_bytes: 512 << 20,
            max_file_bytes: 64 << 20,
            max_files: 50_000,
            max_ratio: 200,
            max_depth: 2,
        }
    }
}

/// The ratio is judged only past this many expanded bytes: small, very regular files (a
/// license, a lockfile) legitimately compress far beyond any sane ratio.
const RATIO_GRACE_BYTES: u64 = 1 << 20;

/// Findings of one rule listed before they are summarised in one more finding.
pub const MAX_FINDINGS_PER_RULE: usize = 20;

/// Separates an outer archive's entry path from a path inside it: `lib/x.jar!/a/B.class`.
pub const NESTED_SEPARATOR: &str = "!/";

const SNIPPET_CHARS: usize = 200;

/// One regular file from an archive, its path normalised (`/`-separated, relative).
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Extracted {
    pub files: Vec<Entry>,
    /// Hostile or suspicious entries, never written or followed.
    pub findings: Vec<Finding>,
    /// True when a limit stopped extraction early.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive cannot be read; the text is the whole message and names the file.
    #[error("{0}")]
    Corrupt(String),
    #[error("`{filename}` is not an archive assay can open: the supported formats are .tgz/.tar.gz, .tar, .tar.bz2 and .zip/.whl/.egg/.jar.")]
    Unsupported { filename: String },
}

impl ArchiveError {
    /// `invalid_archive` or `unsupported_archive`.
    pub fn code(&self) -> &'static str {
        match self {
            ArchiveError::Corrupt(_) => "invalid_archive",
            ArchiveError::Unsupported { .. } => "unsupported_archive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    TarGz,
    Tar,
    TarBz2,
    Zip,
}

impl Format {
    fn from_name(filename: &str) -> Option<Format> {
        let name = filename.to_ascii_lowercase();
        let ends = |exts: &[&str]| exts.iter().any(|e| name.ends_with(e));
        if ends(&[".tgz", ".tar.gz"]) {
            Some(Format::TarGz)
        } else if ends(&[".tar.bz2", ".tbz2", ".tbz"]) {
            Some(Format::TarBz2)
        } else if ends(&[".tar"]) {
            Some(Format::Tar)
        } else if ends(&[".zip", ".whl", ".egg", ".jar"]) {
            Some(Format::Zip)
        } else {
            None
        }
    }

    fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if bytes.starts_with(b"BZh") {
            Some(Format::TarBz2)
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if bytes.get(257..262) == Some(b"ustar") {
            Some(Format::Tar)
        } else {
            None
        }
    }

    fn label(self) -> &'static str {
        match self {
            Format::TarGz => "gzip-compressed tar",
            Format::Tar => "tar",
            Format::TarBz2 => "bzip2-compressed tar",
            Format::Zip => "zip",
        }
    }
}

/// Extracts `bytes`, whose format is told by `filename` (`.tgz`, `.tar.gz`, `.zip`, `.whl`, ...)
/// or sniffed from the magic bytes.
pub fn extract(filename: &str, bytes: &[u8], limits: &Limits) -> Result<Extracted, ArchiveError> {
    let format = Format::from_name(filename)
        .or_else(|| Format::sniff(bytes))
        .ok_or_else(|| ArchiveError::Unsupported {
            filename: filename.to_owned(),
        })?;
    if bytes.is_empty() {
        return Err(ArchiveError::Corrupt(format!(
            "`{filename}` is empty, not a {} archive.",
            format.label()
        )));
    }
    let mut extractor = Extractor {
        limits,
        out: Extracted::default(),
        entries: 0,
        total: Rc::new(Cell::new(0)),
        seen: HashSet::new(),
        seen_folded: HashMap::new(),
        rule_counts: HashMap::new(),
        stopped: false,
    };
    extractor.archive(filename, "", format, bytes, 0)?;
    Ok(extractor.finish())
}

/// Why the meter stopped a stream.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Ratio { out: u64, input: u64 },
    Total,
}

/// Counts the compressed bytes a decoder has consumed.
struct CountingReader<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Meters decompressed bytes against the ratio and the artifact's total, failing the read
/// (and recording why) once either is exceeded.
struct Meter<R> {
    inner: R,
    /// Compressed bytes behind what was produced so far.
    input: Rc<Cell<u64>>,
    out: u64,
    total: Rc<Cell<u64>>,
    stop: Rc<Cell<Option<Stop>>>,
    max_ratio: u64,
    max_total: u64,
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        self.total.set(self.total.get() + n as u64);
        let input = self.input.get().max(1);
        let stop = if self.total.get() > self.max_total {
            Some(Stop::Total)
        } else if self.out > RATIO_GRACE_BYTES && self.out / input >= self.max_ratio {
            Some(Stop::Ratio {
                out: self.out,
                input,
            })
        } else {
            None
        };
        if let Some(stop) = stop {
            self.stop.set(Some(stop));
            return Err(io::Error::other("extraction limit reached"));
        }
        Ok(n)
    }
}

/// A zip entry's bytes as its own meter saw them (ratio and per-file limit). The artifact's
/// total is judged afterwards, in entry order, so entries can be inflated on another thread.
struct Inflated {
    data: io::Result<Option<Vec<u8>>>,
    stop: Option<Stop>,
    /// Bytes inflated before the entry ended or was stopped.
    out: u64,
}

fn inflate<R: Read>(file: &mut zip::read::ZipFile<'_, R>, limits: &Limits) -> Inflated {
    let declared = file.size();
    let deflated = file.compression() == zip::CompressionMethod::Deflated;
    let stop = Rc::new(Cell::new(None));
    let consumed = Rc::new(Cell::new(0));
    let counted = CountingReader {
        inner: file,
        count: Rc::clone(&consumed),
    };
    let decoder: Box<dyn Read + '_> = if deflated {
        Box::new(flate2::read::DeflateDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    let mut meter = Meter {
        inner: decoder,
        input: consumed,
        out: 0,
        total: Rc::new(Cell::new(0)),
        stop: Rc::clone(&stop),
        max_ratio: limits.max_ratio,
        max_total: u64::MAX,
    };
    let data = read_limited(&mut meter, declared, limits.max_file_bytes);
    Inflated {
        data,
        stop: stop.get(),
        out: meter.out,
    }
}

/// The entry's bytes, `None` when over the per-file limit; an error when a limit or
/// corruption stopped the stream.
fn read_limited<R: Read>(
    reader: &mut R,
    declared: u64,
    max_file_bytes: u64,
) -> io::Result<Option<Vec<u8>>> {
    // Sized from the header, so large entries are not copied as the buffer grows; the
    // header may lie, so never beyond the per-file limit, and the excess is given back.
    let capacity = declared.min(max_file_bytes + 1);
    let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader.take(max_file_bytes + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max_file_bytes {
        return Ok(None);
    }
    if data.capacity() > data.len() {
        data.shrink_to_fit();
    }
    Ok(Some(data))
}

/// Zip entries need not be inflated in order: when there is a core to spare and enough to
/// inflate, a second thread inflates about half of the regular entries' bytes ahead of the
/// entry loop, which takes the results in entry order and judges everything else as if it
/// had inflated them itself. The helper stops once it has inflated as much as the artifact
/// may expand to (the total, or the ratio times the archive), so a bomb costs no more than
/// twice what the loop alone would inflate; entries it gave up on are inflated by the loop.
struct Ahead {
    rx: Option<mpsc::Receiver<(usize, Option<Inflated>)>>,
    /// Which entries the helper was given.
    theirs: Vec<bool>,
    pending: Option<(usize, Option<Inflated>)>,
}

/// Compressed bytes below which a helper thread is not worth starting.
const AHEAD_MIN_BYTES: u64 = 1 << 20;

impl Ahead {
    fn start<'scope>(
        s: &'scope std::thread::Scope<'scope, '_>,
        archive: &zip::ZipArchive<Cursor<&'scope [u8]>>,
        archive_bytes: u64,
        limits: &Limits,
    ) -> Ahead {
        let idle = Ahead {
            rx: None,
            theirs: Vec::new(),
            pending: None,
        };
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return idle;
        }
        let mut probe = archive.clone();
        let (mut mine, mut theirs) = (0u64, 0u64);
        let mut assigned = Vec::new();
        let mut given = vec![false; probe.len()];
        for (i, given) in given.iter_mut().enumerate() {
            let Ok(f) = probe.by_index_raw(i) else {
                continue;
            };
            let mode = f.unix_mode().unwrap_or(0) & 0o170_000;
            let regular = !matches!(
                mode,
                0o120_000 | 0o020_000 | 0o060_000 | 0o010_000 | 0o140_000
            ) && !f.is_dir();
            let readable = !f.encrypted()
                && matches!(
                    f.compression(),
                    zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
                );
            if !(regular && readable) {
                continue;
            }
            if theirs <= mine {
                theirs += f.compressed_size();
                assigned.push(i);
                *given = true;
            } else {
                mine += f.compressed_size();
            }
        }
        if theirs + mine < AHEAD_MIN_BYTES {
            return idle;
        }
        let budget = limits
            .max_total_bytes
            .min(limits.max_ratio.saturating_mul(archive_bytes));
        let (tx, rx) = mpsc::channel();
        let mut archive = archive.clone();
        let limits = limits.clone();
        s.spawn(move || {
            let mut spent = 0u64;
            for i in assigned {
                let inflated = (spent <= budget)
                    .then(|| archive.by_index_raw(i).ok())
                    .flatten()
                    .map(|mut f| inflate(&mut f, &limits));
                spent += inflated.as_ref().map_or(0, |x| x.out);
                if tx.send((i, inflated)).is_err() {
                    return;
                }
            }
        });
        Ahead {
            rx: Some(rx),
            theirs: given,
            pending: None,
        }
    }

    /// Entry `i` if the helper inflated it; `None` when the loop must inflate it itself.
    fn take(&mut self, i: usize) -> Option<Inflated> {
        if !self.theirs.get(i).copied().unwrap_or(false) {
            return None;
        }
        let rx = self.rx.as_ref()?;
        loop {
            let (j, inflated) = match self.pending.take() {
                Some(p) => p,
                None => rx.recv().ok()?,
            };
            if j == i {
                return inflated;
            }
            if j > i {
                self.pending = Some((j, inflated));
                return None;
            }
        }
    }
}

struct Extractor<'l> {
    limits: &'l Limits,
    out: Extracted,
    /// Entries of every kind seen in all archives, nested ones included.
    entries: usize,
    total: Rc<Cell<u64>>,
    seen: HashSet<String>,
    /// Lowercased path to the first path with that spelling.
    seen_folded: HashMap<String, String>,
    rule_counts: HashMap<&'static str, (Severity, usize)>,
    stopped: bool,
}

/// What an entry is, whatever the format.
enum Kind {
    File,
    Dir,
    Link { target: String, hard: bool },
    Special(&'static str),
}

impl<'l> Extractor<'l> {
    fn meter<R: Read>(
        &self,
        inner: R,
        input: Rc<Cell<u64>>,
        stop: Rc<Cell<Option<Stop>>>,
    ) -> Meter<R> {
        Meter {
            inner,
            input,
            out: 0,
            total: Rc::clone(&self.total),
            stop,
            max_ratio: self.limits.max_ratio,
            max_total: self.limits.max_total_bytes,
        }
    }

    fn archive(
        &mut self,
        filename: &str,
        prefix: &str,
        format: Format,
        bytes: &[u8],
        depth: u32,
    ) -> Result<(), ArchiveError> {
        let consumed = Rc::new(Cell::new(0));
        let counted = CountingReader {
            inner: bytes,
            count: Rc::clone(&consumed),
        };
        let stop = Rc::new(Cell::new(None));
        match format {
            Format::Tar => {
                // Uncompressed: the input is the output, only the total applies.
                let meter = self.meter(bytes, Rc::new(Cell::new(u64::MAX)), Rc::clone(&stop));
                self.tar(filename, prefix, format, meter, &stop, depth)
            }
            Format::TarGz => {
                let decoder = flate2::read::MultiGzDecoder::new(counted);
                let meter = self.meter(decoder, consumed, Rc::clone(&stop));
                self.tar(filename, prefix, format, meter, &stop, depth)
            }
            Format::TarBz2 => {
                let decoder = bzip2::read::MultiBzDecoder::new(counted);
                let meter = self.meter(decoder, consumed, Rc::clone(&stop));
                self.tar(filename, prefix, format, meter, &stop, depth)
            }
            Format::Zip => self.zip(filename, prefix, bytes, depth),
        }
    }

    fn tar<R: Read>(
        &mut self,
        filename: &str,
        prefix: &str,
        format: Format,
        reader: R,
        stop: &Rc<Cell<Option<Stop>>>,
        depth: u32,
    ) -> Result<(), ArchiveError> {
        let mut archive = tar::Archive::new(reader);
        let mut read_any = false;
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(e) => return Err(corrupt(filename, format, &e)),
        };
        for entry in entries {
            if self.stopped {
                break;
            }
            let mut entry = match entry {
                Ok(entry) => entry,
                Err(e) => return self.stream_error(filename, format, read_any, stop, &e),
            };
            read_any = true;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let header_type = entry.header().entry_type();
            let kind = match header_type {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink | tar::EntryType::Link => Kind::Link {
                    target: entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default(),
                    hard: header_type == tar::EntryType::Link,
                },
                tar::EntryType::Char => Kind::Special("character device"),
                tar::EntryType::Block => Kind::Special("block device"),
                tar::EntryType::Fifo => Kind::Special("named pipe"),
                tar::EntryType::GNUSparse => Kind::Special("sparse file"),
                _ => Kind::Special("special entry"),
            };
            let declared = entry.size();
            let Some(path) = self.admit(prefix, &raw, kind, false) else {
                continue;
            };
            match read_limited(&mut entry, declared, self.limits.max_file_bytes) {
                Ok(Some(data)) if (data.len() as u64) < declared => {
                    self.finding(
                        "archive-corrupt",
                        Severity::Medium,
                        format!("The entry `{path}` claims {declared} bytes but the archive ends after {}; it was left out.", data.len()),
                        Some(path),
                        &raw,
                    );
                }
                Ok(Some(data)) => self.keep(path, data, depth),
                Ok(None) => self.too_large(path, &raw),
                Err(e) => return self.stream_error(filename, format, true, stop, &e),
            }
        }
        Ok(())
    }

    /// An I/O error while reading a stream: a limit, a corrupt archive, or a damaged end.
    fn stream_error(
        &mut self,
        filename: &str,
        format: Format,
        read_any: bool,
        stop: &Rc<Cell<Option<Stop>>>,
        e: &io::Error,
    ) -> Result<(), ArchiveError> {
        if let Some(why) = stop.get() {
            self.limit_hit(why, filename);
            return Ok(());
        }
        if !read_any {
            return Err(corrupt(filename, format, e));
        }
        self.out.truncated = true;
        self.finding(
            "archive-corrupt",
            Severity::Medium,
            format!("The archive `{filename}` is damaged and was read only up to this point: {e}."),
            Some(filename.to_owned()),
            "",
        );
        Ok(())
    }

    fn zip(
        &mut self,
        filename: &str,
        prefix: &str,
        bytes: &[u8],
        depth: u32,
    ) -> Result<(), ArchiveError> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| corrupt(filename, Format::Zip, &e))?;
        let archive_out_start = self.total.get();
        std::thread::scope(|s| {
            let mut ahead = Ahead::start(s, &archive, bytes.len() as u64, self.limits);
            for i in 0..archive.len() {
                if self.stopped {
                    break;
                }
                let mut file = match archive.by_index_raw(i) {
                    Ok(file) => file,
                    Err(e) => {
                        self.finding(
                            "archive-corrupt",
                            Severity::Medium,
                            format!("Entry {i} of `{filename}` cannot be read: {e}."),
                            Some(filename.to_owned()),
                            "",
                        );
                        continue;
                    }
                };
                let raw = file.name().to_owned();
                let mode = file.unix_mode().unwrap_or(0);
                let kind = match mode & 0o170_000 {
                    0o120_000 => {
                        let mut target = Vec::new();
                        // The target is the entry's content; a short read only shortens the message.
                        let _ = if file.compression() == zip::CompressionMethod::Deflated {
                            flate2::read::DeflateDecoder::new(&mut file)
                                .take(1024)
                                .read_to_end(&mut target)
                        } else {
                            (&mut file).take(1024).read_to_end(&mut target)
                        };
                        Kind::Link {
                            target: String::from_utf8_lossy(&target).into_owned(),
                            hard: false,
                        }
                    }
                    0o020_000 => Kind::Special("character device"),
                    0o060_000 => Kind::Special("block device"),
                    0o010_000 => Kind::Special("named pipe"),
                    0o140_000 => Kind::Special("socket"),
                    _ if file.is_dir() => Kind::Dir,
                    _ => Kind::File,
                };
                let Some(path) = self.admit(prefix, &raw, kind, true) else {
                    continue;
                };
                let method = file.compression();
                if file.encrypted()
                    || !matches!(
                        method,
                        zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
                    )
                {
                    let why = if file.encrypted() {
                        "is encrypted".to_owned()
                    } else {
                        format!("uses the compression method {method}, which assay does not read")
                    };
                    self.finding(
                        "archive-unreadable-entry",
                        Severity::Medium,
                        format!("The entry `{path}` {why}, so it cannot be checked."),
                        Some(path),
                        &raw,
                    );
                    continue;
                }
                let inflated = ahead
                    .take(i)
                    .unwrap_or_else(|| inflate(&mut file, self.limits));
                // The artifact's total is judged here, in entry order, wherever the entry was
                // inflated: it is passed exactly when a shared meter would have stopped on it.
                self.total.set(self.total.get() + inflated.out);
                match inflated.data {
                    _ if self.total.get() > self.limits.max_total_bytes => {
                        self.limit_hit(Stop::Total, filename)
                    }
                    Ok(Some(data)) => self.keep(path, data, depth),
                    Ok(None) => self.too_large(path, &raw),
                    Err(e) => match inflated.stop {
                        Some(why) => self.limit_hit(why, filename),
                        None => self.finding(
                            "archive-corrupt",
                            Severity::Medium,
                            format!(
                                "The entry `{path}` in `{filename}` cannot be decompressed: {e}."
                            ),
                            Some(path),
                            &raw,
                        ),
                    },
                }
                // Many entries that each stay under the ratio can still add up to a bomb.
                let archive_out = self.total.get() - archive_out_start;
                if !self.stopped
                    && archive_out > RATIO_GRACE_BYTES
                    && archive_out / (bytes.len() as u64).max(1) >= self.limits.max_ratio
                {
                    self.limit_hit(
                        Stop::Ratio {
                            out: archive_out,
                            input: bytes.len() as u64,
                        },
                        filename,
                    );
                }
            }
        });
        Ok(())
    }

    /// Checks an entry's path and kind; returns its normalised path when it is a regular file
    /// to read, after recording a finding for anything hostile.
    fn admit(
        &mut self,
        prefix: &str,
        raw: &str,
        kind: Kind,
        backslash_is_separator: bool,
    ) -> Option<String> {
        self.entries += 1;
        if self.entries > self.limits.max_files {
            self.out.truncated = true;
            self.stopped = true;
            self.finding(
                "archive-too-many-files",
                Severity::High,
                format!(
                    "The package has more than {} entries; extraction stopped there.",
                    self.limits.max_files
                ),
                None,
                "",
            );
            return None;
        }
        let path = match normalise(raw, backslash_is_separator) {
            Ok(path) if path.is_empty() => return None,
            Ok(path) => format!("{prefix}{path}"),
            Err(hostile) => {
                let shown = format!("{prefix}{raw}");
                let (rule, message) = match hostile {
                    HostilePath::Traversal { via_backslash } => (
                        "archive-path-traversal",
                        format!(
                            "The entry `{shown}` climbs out of the package with `..`{}; it was not extracted.",
                            if via_backslash { " (written with backslashes)" } else { "" }
                        ),
                    ),
                    HostilePath::Absolute => (
                        "archive-absolute-path",
                        format!("The entry `{shown}` has an absolute path; it was not extracted."),
                    ),
                };
                self.finding(rule, Severity::High, message, Some(shown), raw);
                return None;
            }
        };
        match kind {
            Kind::File => {}
            Kind::Dir => return None,
            Kind::Link { target, hard } => {
                let what = if hard {
                    "a hard link"
                } else {
                    "a symbolic link"
                };
                self.finding(
                    "archive-link",
                    Severity::Medium,
                    format!(
                        "The entry `{path}` is {what} to `{}`; it was not followed.",
                        escape(&target)
                    ),
                    Some(path),
                    raw,
                );
                return None;
            }
            Kind::Special(what) => {
                self.finding(
                    "archive-special-file",
                    Severity::High,
                    format!("The entry `{path}` is a {what}, which a package never needs; it was not extracted."),
                    Some(path),
                    raw,
                );
                return None;
            }
        }
        if self.seen.contains(&path) {
            self.finding(
                "archive-duplicate-name",
                Severity::Medium,
                format!("The entry `{path}` appears more than once; an extractor would overwrite the first copy with this one, which was left out."),
                Some(path),
                raw,
            );
            return None;
        }
        let folded = path.to_lowercase();
        if let Some(first) = self.seen_folded.get(&folded) {
            let message = format!(
                "The entry `{path}` differs from `{first}` only in letter case; on a case-insensitive file system one overwrites the other. It was left out."
            );
            self.finding(
                "archive-case-collision",
                Severity::Low,
                message,
                Some(path),
                raw,
            );
            return None;
        }
        self.seen.insert(path.clone());
        self.seen_folded.insert(folded, path.clone());
        Some(path)
    }

    fn too_large(&mut self, path: String, raw: &str) {
        self.finding(
            "archive-file-too-large",
            Severity::Medium,
            format!(
                "The entry `{path}` is larger than the per-file limit of {} bytes; it was skipped.",
                self.limits.max_file_bytes
            ),
            Some(path),
            raw,
        );
    }

    /// Keeps a regular file, opening it first when it is itself an archive.
    fn keep(&mut self, path: String, data: Vec<u8>, depth: u32) {
        if let Some(format) = Format::from_name(&path) {
            if depth < self.limits.max_depth {
                let prefix = format!("{path}{NESTED_SEPARATOR}");
                if let Err(e) = self.archive(&path, &prefix, format, &data, depth + 1) {
                    self.finding(
                        "archive-nested-unreadable",
                        Severity::Info,
                        format!("The archive `{path}` inside the package cannot be opened: {e}"),
                        Some(path.clone()),
                        "",
                    );
                }
            } else {
                self.finding(
                    "archive-nesting-too-deep",
                    Severity::Medium,
                    format!(
                        "The archive `{path}` is nested more than {} levels deep and was not opened.",
                        self.limits.max_depth
                    ),
                    Some(path.clone()),
                    "",
                );
            }
        }
        self.out.files.push(Entry { path, data });
    }

    fn limit_hit(&mut self, why: Stop, filename: &str) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.out.truncated = true;
        let message = match why {
            Stop::Ratio { out, input } => format!(
                "The archive `{filename}` expands more than {} times ({out} bytes from {input}), the mark of a decompression bomb; extraction stopped.",
                self.limits.max_ratio
            ),
            Stop::Total => format!(
                "The package expands to more than {} bytes; extraction stopped.",
                self.limits.max_total_bytes
            ),
        };
        self.finding(
            "archive-bomb",
            Severity::High,
            message,
            Some(filename.to_owned()),
            "",
        );
    }

    fn finding(
        &mut self,
        rule: &'static str,
        severity: Severity,
        message: String,
        file: Option<String>,
        raw: &str,
    ) {
        let count = &mut self.rule_counts.entry(rule).or_insert((severity, 0)).1;
        *count += 1;
        if *count > MAX_FINDINGS_PER_RULE {
            return;
        }
        self.out.findings.push(Finding {
            rule: rule.to_owned(),
            severity,
            message,
            file,
            line: None,
            snippet: (!raw.is_empty()).then(|| escape(raw)),
        });
    }

    fn finish(mut self) -> Extracted {
        let mut summaries: Vec<_> = self
            .rule_counts
            .iter()
            .filter(|(_, (_, count))| *count > MAX_FINDINGS_PER_RULE)
            .map(|(rule, (severity, count))| Finding {
                rule: (*rule).to_owned(),
                severity: *severity,
                message: format!(
                    "{} more entries broke the rule `{rule}`; only the first {MAX_FINDINGS_PER_RULE} are listed.",
                    count - MAX_FINDINGS_PER_RULE
                ),
                file: None,
                line: None,
                snippet: None,
            })
            .collect();
        summaries.sort_by(|a, b| a.rule.cmp(&b.rule));
        self.out.findings.extend(summaries);
        self.out
    }
}

fn corrupt(filename: &str, format: Format, e: &dyn std::fmt::Display) -> ArchiveError {
    ArchiveError::Corrupt(format!(
        "`{filename}` is not a valid {} archive: {e}.",
        format.label()
    ))
}

enum HostilePath {
    Traversal { via_backslash: bool },
    Absolute,
}

/// `/`-separated and relative, `.` and empty segments dropped; `..` and absolute paths are
/// refused rather than resolved.
fn normalise(raw: &str, backslash_is_separator: bool) -> Result<String, HostilePath> {
    let unified = if backslash_is_separator {
        raw.replace('\\', "/")
    } else {
        raw.to_owned()
    };
    let bytes = unified.as_bytes();
    let drive_letter = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if unified.starts_with('/') || drive_letter {
        return Err(HostilePath::Absolute);
    }
    let mut segments = Vec::new();
    for segment in unified.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                return Err(HostilePath::Traversal {
                    via_backslash: raw.contains('\\'),
                })
            }
            s => segments.push(s),
        }
    }
    Ok(segments.join("/"))
}

/// Control characters escaped, at most [`SNIPPET_CHARS`] characters.
fn escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(SNIPPET_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// npm when a `package.json` sits at the top of the single top-level directory (classically
/// `package/`) or at the root; PyPI for `PKG-INFO`, `setup.py` or `pyproject.toml` there, or a
/// wheel's `*.dist-info/METADATA`. Files of nested archives are not considered.
pub fn detect_ecosystem(files: &[Entry]) -> Option<Ecosystem> {
    let outer = || files.iter().filter(|f| !f.path.contains(NESTED_SEPARATOR));
    let mut tops = outer().map(|f| f.path.split('/').next().unwrap_or_default());
    let first_top = tops.next()?;
    let single_dir =
        tops.all(|t| t == first_top) && outer().all(|f| f.path.len() > first_top.len());
    let at_top = |name: &str| {
        outer().any(|f| {
            f.path == name
                || (single_dir
                    && f.path
                        .strip_prefix(first_top)
                        .and_then(|r| r.strip_prefix('/'))
                        == Some(name))
        })
    };
    let wheel = outer().any(|f| {
        f.path
            .strip_suffix("/METADATA")
            .is_some_and(|dir| dir.ends_with(".dist-info") && !dir.contains('/'))
    });
    if wheel || at_top("PKG-INFO") {
        Some(Ecosystem::Pypi)
    } else if at_top("package.json") {
        Some(Ecosystem::Npm)
    } else if at_top("setup.py") || at_top("pyproject.toml") {
        Some(Ecosystem::Pypi)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A zip of `n` stored entries of 64 KiB of noise: over a MiB, so entries are inflated on
    /// two threads.
    fn noise_zip(n: usize) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..n {
            let noise: Vec<u8> = (0..65_536u32)
                .map(|j| (j.wrapping_add(i as u32 * 7919).wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            zip.start_file(format!("p/{i:02}.bin"), stored)
                .expect("start file");
            zip.write_all(&noise).expect("write");
        }
        zip.finish().expect("zip").into_inner()
    }

    #[test]
    fn entries_inflated_ahead_keep_the_entry_order_and_the_total() {
        let bytes = noise_zip(40);
        let all = extract("p.zip", &bytes, &Limits::default()).expect("extracts");
        let paths: Vec<_> = all.files.iter().map(|f| f.path.clone()).collect();
        let expected: Vec<_> = (0..40).map(|i| format!("p/{i:02}.bin")).collect();
        assert_eq!(paths, expected);
        assert!(all.findings.is_empty() && !all.truncated);

        // The eleventh entry passes the total, wherever it was inflated.
        let limits = Limits {
            max_total_bytes: 10 * 65_536 + 32_768,
            ..Limits::default()
        };
        let cut = extract("p.zip", &bytes, &limits).expect("extracts");
        assert_eq!(cut.files.len(), 10);
        assert!(cut.truncated);
        assert_eq!(cut.findings.len(), 1);
        assert_eq!(cut.findings[0].rule, "archive-bomb");
        assert!(cut.findings[0].message.contains("more than 688128 bytes"));
    }
}
