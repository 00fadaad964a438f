//! Splits the decoded input into chunks at record boundaries, profiles chunks on worker
//! threads and merges their partial statistics in file order.
//!
//! Chunks are cut only after a line break that the boundary scanner proves to be outside
//! quotes, using the tokenizer's own quoting rules, so every chunk starts at a record start
//! and no speculative parse is ever thrown away. Because the cut points depend only on the
//! input and `chunk_bytes`, and partials merge in file order, the report does not depend on
//! the number of threads.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Instant;

use xxhash_rust::xxh3::xxh3_64;

use crate::column::{trim, ColumnStats, NullTokens, Values};
use crate::input::{Encoding, Source};
use crate::options::MAX_COLUMNS;
use crate::parse::{last_record_end, sniff_delimiter, End, Tokenizer, Unterminated};
use crate::report::{CsvReport, Methods, RaggedRow, SCHEMA_VERSION};
use crate::sketch::RowSample;
use crate::{CsvError, CsvOptions};

/// How much of the input the delimiter sniffer looks at.
const SNIFF_BYTES: usize = 64 << 10;

/// What every chunk worker needs to know.
struct Settings {
    delimiter: u8,
    columns: usize,
    nulls: NullTokens,
    exact_threshold: usize,
    distinct_threshold: usize,
    max_ragged: usize,
    /// Raw offset of decoded byte 0, for error positions; `None` when the decoded text was
    /// produced by transcoding and is valid by construction.
    utf8_base: Option<u64>,
    /// Per column: some chunk had more numeric values than `exact_threshold`, so the file
    /// does too and later chunks need not keep their values.
    exact_exceeded: Vec<AtomicBool>,
    /// Per column, from the first chunk: the counter later chunks start from.
    seeds: Seeds,
    /// The duplicate-row sampling level merged so far; new chunks start there.
    row_level: AtomicU32,
}

/// Value-counter seeds published by the worker of the first chunk; workers of later chunks
/// wait for them. The first chunk is a quarter of the others so the wait is short.
#[derive(Default)]
struct Seeds {
    value: Mutex<Option<Vec<Option<Values>>>>,
    ready: Condvar,
}

impl Seeds {
    fn publish(&self, seeds: Vec<Option<Values>>) {
        if let Ok(mut value) = self.value.lock() {
            *value = Some(seeds);
        }
        self.ready.notify_all();
    }

    /// Counters to start a later chunk from, one per column.
    fn counters(&self, columns: usize, limit: usize) -> Vec<Values> {
        let fresh = || (0..columns).map(|_| Values::new(limit)).collect();
        let Ok(mut value) = self.value.lock() else {
            return fresh();
        };
        while value.is_none() {
            value = match self.ready.wait(value) {
                Ok(v) => v,
                Err(_) => return fresh(),
            };
        }
        match value.as_ref() {
            Some(seeds) => seeds
                .iter()
                .map(|seed| seed.clone().unwrap_or_else(|| Values::new(limit)))
                .collect(),
            None => fresh(),
        }
    }
}

/// Publishes the first chunk's seeds even if its worker unwinds, so no worker waits forever.
struct PublishOnDrop<'a> {
    seeds: &'a Seeds,
    value: Vec<Option<Values>>,
}

impl Drop for PublishOnDrop<'_> {
    fn drop(&mut self) {
        self.seeds.publish(std::mem::take(&mut self.value));
    }
}

struct Job {
    index: usize,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Decoded-stream offset of `buf[start]`.
    offset: u64,
}

struct Done {
    index: usize,
    result: Result<Partial, ChunkError>,
    buf: Vec<u8>,
}

/// A problem found inside a chunk, positioned relative to it until merged.
enum ChunkError {
    Utf8 {
        offset: u64,
        byte: u8,
    },
    Unterminated {
        line: u64,
    },
    /// The worker panicked on this chunk (a bug); caught so the pipeline cannot hang.
    Panicked,
}

/// Statistics of one chunk; rows and lines in `ragged` count from 0 within the chunk.
struct Partial {
    rows: u64,
    lines: u64,
    blank_lines: u64,
    ragged_rows: u64,
    ragged: Vec<RaggedRow>,
    row_sample: RowSample,
    columns: Vec<ColumnStats>,
}

impl Partial {
    fn new(s: &Settings, counters: Vec<Values>) -> Self {
        Partial {
            rows: 0,
            lines: 0,
            blank_lines: 0,
            ragged_rows: 0,
            ragged: Vec::new(),
            row_sample: RowSample::at_level(s.row_level.load(Ordering::Relaxed)),
            columns: counters
                .into_iter()
                .zip(&s.exact_exceeded)
                .map(|(counter, exceeded)| {
                    let keep_values = !exceeded.load(Ordering::Relaxed);
                    ColumnStats::new(s.exact_threshold, keep_values, counter)
                })
                .collect(),
        }
    }
}

fn profile_chunk(
    data: &[u8],
    offset: u64,
    s: &Settings,
    counters: Vec<Values>,
) -> Result<Partial, ChunkError> {
    let ascii = data.is_ascii();
    if let (false, Some(base)) = (ascii, s.utf8_base) {
        if let Err(e) = std::str::from_utf8(data) {
            let at = e.valid_up_to();
            return Err(ChunkError::Utf8 {
                offset: base + offset + at as u64,
                byte: data.get(at).copied().unwrap_or(0),
            });
        }
    }
    let mut p = Partial::new(s, counters);
    let mut tok = Tokenizer::new(data, s.delimiter);
    let mut scratch = Vec::new();
    while !tok.at_end() {
        if tok.skip_blank_line() {
            p.blank_lines += 1;
            continue;
        }
        let record_line = tok.lines;
        let mut fields = 0;
        let mut row = RowHash::default();
        loop {
            let (field, end) = tok
                .next_field(&mut scratch)
                .map_err(|Unterminated| ChunkError::Unterminated { line: record_line })?;
            let bytes = tok.bytes(field, &scratch);
            row.add(match p.columns.get_mut(fields) {
                Some(column) => column.add(bytes, &s.nulls, ascii),
                None => xxh3_64(trim(bytes)),
            });
            fields += 1;
            if end != End::Delimiter {
                break;
            }
        }
        p.row_sample.add(row.finish(fields));
        for column in p.columns.iter_mut().skip(fields) {
            column.add_null();
        }
        if fields != s.columns {
            p.ragged_rows += 1;
            if p.ragged.len() < s.max_ragged {
                p.ragged.push(RaggedRow {
                    row: p.rows,
                    line: record_line,
                    fields,
                    expected: s.columns,
                });
            }
        }
        p.rows += 1;
    }
    p.lines = tok.lines;
    p.row_sample.seal();
    Ok(p)
}

/// A row's fingerprint, folded from its values' hashes in order, so rows match when their
/// trimmed values do (all null tokens being equal) whatever quoting or spacing they used.
#[derive(Default)]
struct RowHash(u64);

impl RowHash {
    #[inline]
    fn add(&mut self, value_hash: u64) {
        self.0 = (self.0.rotate_left(23) ^ value_hash).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    /// Mixes in the field count and avalanches (murmur3's finalizer), since sampling reads
    /// the top bits.
    fn finish(self, fields: usize) -> u64 {
        let mut h = self.0 ^ fields as u64;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Folds chunk partials in file order, whatever order they finish in.
struct Merger {
    next: usize,
    pending: BTreeMap<usize, Result<Partial, ChunkError>>,
    total: Option<Partial>,
    row_base: u64,
    line_base: u64,
    max_ragged: usize,
    error: Option<CsvError>,
}

impl Merger {
    fn accept(&mut self, index: usize, result: Result<Partial, ChunkError>) {
        self.pending.insert(index, result);
        while let Some(result) = self.pending.remove(&self.next) {
            self.next += 1;
            if self.error.is_some() {
                continue;
            }
            match result {
                Ok(partial) => self.merge(partial),
                Err(ChunkError::Utf8 { offset, byte }) => {
                    self.error = Some(CsvError::InvalidUtf8 { offset, byte })
                }
                Err(ChunkError::Unterminated { line }) => {
                    self.error = Some(unterminated(self.line_base + line + 1))
                }
                Err(ChunkError::Panicked) => self.error = Some(CsvError::Worker),
            }
        }
    }

    fn merge(&mut self, mut p: Partial) {
        for r in &mut p.ragged {
            r.row += self.row_base + 1;
            r.line += self.line_base + 1;
        }
        self.row_base += p.rows;
        self.line_base += p.lines;
        let Some(total) = &mut self.total else {
            self.total = Some(p);
            return;
        };
        total.rows += p.rows;
        total.lines += p.lines;
        total.blank_lines += p.blank_lines;
        total.ragged_rows += p.ragged_rows;
        let room = self.max_ragged.saturating_sub(total.ragged.len());
        total.ragged.extend(p.ragged.into_iter().take(room));
        total.row_sample.merge(p.row_sample);
        for (mine, theirs) in total.columns.iter_mut().zip(&p.columns) {
            mine.merge(theirs);
        }
    }
}

fn unterminated(line: u64) -> CsvError {
    CsvError::Parse {
        reason: format!("the quoted field that starts on line {line} has no closing quote."),
    }
}

fn worker(jobs: &Mutex<mpsc::Receiver<Job>>, done: mpsc::Sender<Done>, s: &Settings) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let data = job.buf.get(job.start..job.end).unwrap_or_default();
        let profile = || {
            if job.index == 0 {
                let mut publish = PublishOnDrop {
                    seeds: &s.seeds,
                    value: vec![None; s.columns],
                };
                let counters = (0..s.columns)
                    .map(|_| Values::new(s.distinct_threshold))
                    .collect();
                let result = profile_chunk(data, job.offset, s, counters);
                if let Ok(p) = &result {
                    publish.value = p.columns.iter().map(|c| c.values().seed()).collect();
                }
                result
            } else {
                let counters = s.seeds.counters(s.columns, s.distinct_threshold);
                profile_chunk(data, job.offset, s, counters)
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(profile))
            .unwrap_or(Err(ChunkError::Panicked));
        if let Ok(p) = &result {
            for (column, exceeded) in p.columns.iter().zip(&s.exact_exceeded) {
                if column.exceeds_exact() {
                    exceeded.store(true, Ordering::Relaxed);
                }
            }
        }
        let done_msg = Done {
            index: job.index,
            result,
            buf: job.buf,
        };
        if done.send(done_msg).is_err() {
            return;
        }
    }
}

/// The first record, read to learn the delimiter and the columns.
struct Head {
    delimiter: u8,
    fields: Vec<Vec<u8>>,
    /// Offset just past the first record.
    end: usize,
    /// Blank lines before it and line breaks up to its end.
    blank_lines: u64,
    lines: u64,
}

/// Fills `buf` until it holds the first complete record (or all input).
fn read_head<R: Read>(
    source: &mut Source<R>,
    buf: &mut Vec<u8>,
    more: &mut bool,
    opts: &CsvOptions,
) -> Result<Head, CsvError> {
    loop {
        let delimiter = opts.delimiter.unwrap_or_else(|| {
            let sample = &buf[..buf.len().min(SNIFF_BYTES)];
            sniff_delimiter(sample, !*more && sample.len() == buf.len())
        });
        let mut tok = Tokenizer::new(buf, delimiter);
        let mut blank_lines = 0;
        while tok.skip_blank_line() {
            blank_lines += 1;
        }
        let parsed = if tok.at_end() {
            None
        } else {
            Some(tok.record())
        };
        match parsed {
            Some(Ok((fields, end))) if end == End::Record || !*more => {
                return Ok(Head {
                    delimiter,
                    fields,
                    end: tok.pos,
                    blank_lines,
                    lines: tok.lines,
                })
            }
            _ if *more => *more = source.fill(buf, opts.chunk_bytes)?,
            None => return Err(CsvError::Empty),
            Some(_) => return Err(unterminated(blank_lines + 1)),
        }
    }
}

/// What the first record says about the file.
struct Layout {
    delimiter: u8,
    names: Vec<String>,
    /// Offset in the first buffer where data records start.
    data_start: usize,
    /// Lines before `data_start`.
    line_base: u64,
    header_blank_lines: u64,
    /// See `Settings::utf8_base`.
    utf8_base: Option<u64>,
}

/// Reads the first record: sniffs the delimiter, names the columns and checks the header's
/// bytes, which the chunk workers will not see when there is a header.
fn layout<R: Read>(
    source: &mut Source<R>,
    buf: &mut Vec<u8>,
    more: &mut bool,
    opts: &CsvOptions,
) -> Result<Layout, CsvError> {
    let head = read_head(source, buf, more, opts)?;
    let utf8_base = match source.encoding {
        Encoding::Utf8 | Encoding::Utf8Bom => Some(source.encoding.bom_len()),
        Encoding::Utf16Le | Encoding::Utf16Be => None,
    };
    if let (Some(base), Err(e)) = (utf8_base, std::str::from_utf8(&buf[..head.end])) {
        let at = e.valid_up_to();
        return Err(CsvError::InvalidUtf8 {
            offset: base + at as u64,
            byte: buf.get(at).copied().unwrap_or(0),
        });
    }
    let columns = head.fields.len();
    if columns > MAX_COLUMNS {
        return Err(CsvError::TooManyColumns {
            found: columns,
            limit: MAX_COLUMNS,
        });
    }
    let names: Vec<String> = if opts.has_header {
        head.fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = String::from_utf8_lossy(trim(f)).into_owned();
                if name.is_empty() {
                    format!("column_{}", i + 1)
                } else {
                    name
                }
            })
            .collect()
    } else {
        (1..=columns).map(|i| format!("column_{i}")).collect()
    };
    let (data_start, line_base, header_blank_lines) = if opts.has_header {
        (head.end, head.lines, head.blank_lines)
    } else {
        (0, 0, 0)
    };
    Ok(Layout {
        delimiter: head.delimiter,
        names,
        data_start,
        line_base,
        header_blank_lines,
        utf8_base,
    })
}

pub(crate) fn run<R: Read>(
    reader: R,
    path: &Path,
    opts: &CsvOptions,
    started: Instant,
) -> Result<CsvReport, CsvError> {
    opts.validate()?;
    let chunk_bytes = opts.chunk_bytes;
    let mut source = Source::open(reader, path, opts.max_bytes)?;
    let mut buf = Vec::with_capacity(chunk_bytes + chunk_bytes / 4);
    let mut more = true;
    while more && buf.len() < chunk_bytes {
        let want = chunk_bytes - buf.len();
        more = source.fill(&mut buf, want)?;
    }
    let layout = layout(&mut source, &mut buf, &mut more, opts)?;
    let columns = layout.names.len();
    let settings = Settings {
        delimiter: layout.delimiter,
        columns,
        nulls: NullTokens::new(&opts.na_tokens),
        exact_threshold: opts.exact_threshold,
        distinct_threshold: opts.distinct_threshold,
        max_ragged: opts.max_ragged_reported,
        utf8_base: layout.utf8_base,
        exact_exceeded: (0..columns).map(|_| AtomicBool::new(false)).collect(),
        seeds: Seeds::default(),
        row_level: AtomicU32::new(0),
    };
    let mut merger = Merger {
        next: 0,
        pending: BTreeMap::new(),
        total: None,
        row_base: 0,
        line_base: layout.line_base,
        max_ragged: opts.max_ragged_reported,
        error: None,
    };

    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(0);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..opts.worker_threads())
            .map(|_| {
                let (done_tx, job_rx, settings) = (done_tx.clone(), &job_rx, &settings);
                scope.spawn(move || worker(job_rx, done_tx, settings))
            })
            .collect();
        drop(done_tx);
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let mut produce = || -> Result<(), CsvError> {
            let (mut index, mut start, mut offset) = (0, layout.data_start, 0u64);
            let mut target = (chunk_bytes / 4).max(1024);
            loop {
                while more && buf.len() - start < target {
                    let want = target - (buf.len() - start);
                    more = source.fill(&mut buf, want)?;
                }
                // Cut within exactly `target` bytes, however much has been read, so the
                // chunks depend only on the input.
                let window = &buf[start..(start + target).min(buf.len())];
                let cut = if more || window.len() < buf.len() - start {
                    match last_record_end(window, settings.delimiter) {
                        Some(cut) => start + cut,
                        None => {
                            target += chunk_bytes;
                            continue;
                        }
                    }
                } else {
                    buf.len()
                };
                let last = !more && cut == buf.len();
                let mut next = pool.pop().unwrap_or_default();
                next.clear();
                next.extend_from_slice(&buf[cut..]);
                let job = Job {
                    index,
                    buf: std::mem::replace(&mut buf, next),
                    start,
                    end: cut,
                    offset: offset + start as u64,
                };
                offset += cut as u64;
                (index, start, target) = (index + 1, 0, chunk_bytes);
                job_tx.send(job).map_err(|_| CsvError::Worker)?;
                while let Ok(done) = done_rx.try_recv() {
                    merger.accept(done.index, done.result);
                    pool.push(done.buf);
                }
                if let Some(total) = &merger.total {
                    let level = total.row_sample.level();
                    settings.row_level.fetch_max(level, Ordering::Relaxed);
                }
                if last || merger.error.is_some() {
                    return Ok(());
                }
            }
        };
        let produced = produce();
        drop(job_tx);
        for done in done_rx.iter() {
            merger.accept(done.index, done.result);
        }
        let joined = handles.into_iter().all(|h| h.join().is_ok());
        match (produced, joined) {
            (Err(e), _) => Err(e),
            (Ok(()), false) => Err(CsvError::Worker),
            (Ok(()), true) => Ok(()),
        }
    })?;
    if let Some(e) = merger.error {
        return Err(e);
    }
    let total = merger.total.ok_or(CsvError::Worker)?;
    let (duplicate_rows, duplicate_rows_approximate) = total.row_sample.duplicates();
    Ok(CsvReport {
        schema_version: SCHEMA_VERSION,
        bytes: source.raw_bytes(),
        sha256: source.sha256(),
        encoding: source.encoding.name().to_string(),
        delimiter: (settings.delimiter as char).to_string(),
        has_header: opts.has_header,
        rows: total.rows,
        column_count: columns,
        blank_lines: total.blank_lines + layout.header_blank_lines,
        duplicate_rows,
        duplicate_rows_approximate,
        ragged_rows: total.ragged_rows,
        ragged_examples: total.ragged,
        elapsed_ms: started.elapsed().as_millis() as u64,
        methods: Methods::new(opts.exact_threshold, opts.distinct_threshold),
        columns: total
            .columns
            .into_iter()
            .zip(layout.names)
            .enumerate()
            .map(|(i, (stats, name))| stats.finish(name, i))
            .collect(),
    })
}
