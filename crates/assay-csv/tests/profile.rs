//! End-to-end tests of the public API on small, hand-made inputs whose statistics are
//! computed independently here.

use assay_csv::{
    profile_bytes, profile_path, profile_reader, ColumnProfile, ColumnType, CsvError, CsvOptions,
    CsvReport, QuantileMethod, Sortedness,
};
use serde_json::json;

fn profile(text: &str) -> CsvReport {
    profile_bytes(text.as_bytes(), &CsvOptions::default()).expect("profile")
}

fn column<'a>(report: &'a CsvReport, name: &str) -> &'a ColumnProfile {
    report
        .columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn err(bytes: &[u8], opts: &CsvOptions) -> CsvError {
    profile_bytes(bytes, opts).expect_err("should fail")
}

/// Same report apart from the time it took.
fn without_time(mut r: CsvReport) -> CsvReport {
    r.elapsed_ms = 0;
    r
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// numpy's default quantile: linear interpolation between closest ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = q * (sorted.len() - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[test]
fn numeric_statistics_match_independent_computation() {
    let values = [3.5, -2.0, 10.25, 7.0, 0.0, 3.5, 99.5, -14.75, 1e2, 6.125];
    let mut text = String::from("x,n\n");
    for (i, v) in values.iter().enumerate() {
        text.push_str(&format!("{v},{}\n", i as i64 * 3 - 7));
    }
    let report = profile(&text);
    let x = column(&report, "x");
    assert_eq!(x.inferred_type, ColumnType::Float);
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    assert!(close(x.mean.unwrap(), mean));
    assert!(close(x.stddev.unwrap(), var.sqrt()));
    assert!(close(
        x.sum.as_ref().unwrap().as_f64().unwrap(),
        values.iter().sum()
    ));
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q = x.quantiles.as_ref().unwrap();
    assert_eq!(x.quantile_method, Some(QuantileMethod::ExactLinear));
    assert!(close(q.p25, quantile(&sorted, 0.25)));
    assert!(close(q.p50, quantile(&sorted, 0.5)));
    assert!(close(q.p75, quantile(&sorted, 0.75)));
    assert_eq!(x.min, Some(json!(-14.75)));
    assert_eq!(x.max, Some(json!(100.0)));
    let h = x.histogram.as_ref().unwrap();
    assert_eq!(h.counts.len(), 20);
    assert_eq!(h.edges.len(), 21);
    assert_eq!(h.counts.iter().sum::<u64>(), 10);
    assert!(!h.approximate);
    assert_eq!(x.distinct_count, 9);
    assert_eq!(x.top_values[0].value, "3.5");
    assert_eq!(x.top_values[0].count, 2);

    let n_col = column(&report, "n");
    assert_eq!(n_col.inferred_type, ColumnType::Integer);
    assert_eq!(n_col.min, Some(json!(-7)));
    assert_eq!(n_col.max, Some(json!(20)));
    assert_eq!(n_col.sum, Some(json!(65)));
    assert_eq!(n_col.sortedness, Sortedness::Ascending);
    assert!(close(n_col.mean.unwrap(), 6.5));
}

#[test]
fn type_inference_edge_cases() {
    let text = "zip,flag,yn,day,ts,neg,exp,padded,mixed,word,nothing\n\
                00501,true,Y,2024-01-31,2024-01-31T10:00:00Z,-5,1e3,  42 ,1,abc,\n\
                02134,FALSE,n,2023-12-01,2024-02-01T00:00:00.5+01:00,-17,-2.5E-2,\t7,2.5,12,NA\n\
                10001,True,yes,2020-02-29,2024-03-01 08:30:00,3,4,9 ,3,x,\n";
    let r = profile(text);
    let t = |name| column(&r, name).inferred_type;
    assert_eq!(t("zip"), ColumnType::String, "leading zeros are codes");
    assert_eq!(t("flag"), ColumnType::Boolean);
    assert_eq!(t("yn"), ColumnType::Boolean);
    assert_eq!(t("day"), ColumnType::Date);
    assert_eq!(t("ts"), ColumnType::Datetime);
    assert_eq!(t("neg"), ColumnType::Integer);
    assert_eq!(t("exp"), ColumnType::Float);
    assert_eq!(
        t("padded"),
        ColumnType::Integer,
        "spaces and tabs are trimmed"
    );
    assert_eq!(
        t("mixed"),
        ColumnType::Float,
        "integers and floats make floats"
    );
    assert_eq!(t("word"), ColumnType::String);
    assert_eq!(t("nothing"), ColumnType::Empty);
    assert_eq!(column(&r, "nothing").null_count, 3);
    assert_eq!(column(&r, "padded").max, Some(json!(42)));
    assert_eq!(column(&r, "flag").min, Some(json!(false)));
    assert_eq!(column(&r, "flag").max, Some(json!(true)));
    assert_eq!(column(&r, "day").min, Some(json!("2020-02-29")));
    assert_eq!(column(&r, "zip").min, Some(json!("00501")));
    assert_eq!(column(&r, "word").max, Some(json!("x")));
    assert_eq!(column(&r, "exp").min, Some(json!(-0.025)));
    assert!(column(&r, "zip").mean.is_none());
}

#[test]
fn null_tokens_are_configurable() {
    let text = "a\nNA\nnull\n-\n5\n";
    let r = profile(text);
    assert_eq!(column(&r, "a").null_count, 3);
    assert_eq!(column(&r, "a").inferred_type, ColumnType::Integer);
    let opts = CsvOptions {
        na_tokens: vec!["".into()],
        ..CsvOptions::default()
    };
    let r = profile_bytes(text.as_bytes(), &opts).unwrap();
    assert_eq!(column(&r, "a").null_count, 0);
    assert_eq!(column(&r, "a").inferred_type, ColumnType::String);
}

#[test]
fn quoted_fields_with_newlines_and_escapes() {
    let text = "id,note\n1,\"line one\nline two\"\n2,\"say \"\"hi\"\"\"\n3,\"a,b\"\n4,x,extra\n";
    let r = profile(text);
    assert_eq!(r.rows, 4);
    assert_eq!(column(&r, "note").max_length, Some(17));
    let top: Vec<_> = column(&r, "note")
        .top_values
        .iter()
        .map(|t| t.value.clone())
        .collect();
    assert!(top.contains(&"line one\nline two".to_string()));
    assert!(top.contains(&"say \"hi\"".to_string()));
    assert!(top.contains(&"a,b".to_string()));
    assert_eq!(r.ragged_rows, 1);
    let ragged = &r.ragged_examples[0];
    assert_eq!(
        (ragged.row, ragged.line, ragged.fields, ragged.expected),
        (4, 6, 3, 2)
    );
}

#[test]
fn ragged_rows_are_counted_and_located() {
    let mut text = String::from("a,b,c\n1,2,3\n4,5\n\n6,7,8,9\n");
    for _ in 0..30 {
        text.push_str("1\n");
    }
    let opts = CsvOptions {
        max_ragged_reported: 5,
        ..CsvOptions::default()
    };
    let r = profile_bytes(text.as_bytes(), &opts).unwrap();
    assert_eq!(r.rows, 33);
    assert_eq!(r.ragged_rows, 32);
    assert_eq!(r.blank_lines, 1);
    assert_eq!(r.ragged_examples.len(), 5);
    let first: Vec<_> = r.ragged_examples[..3]
        .iter()
        .map(|x| (x.row, x.line, x.fields))
        .collect();
    assert_eq!(first, vec![(2, 3, 2), (3, 5, 4), (4, 6, 1)]);
    // Missing trailing fields count as nulls.
    assert_eq!(column(&r, "c").null_count, 31);
}

#[test]
fn blank_lines_crlf_and_duplicates() {
    let text = "a,b\r\n\r\n1,x\r\n2,y\r\n\r\n1,x\r\n1,x\r\n";
    let r = profile(text);
    assert_eq!(r.rows, 4);
    assert_eq!(r.blank_lines, 2);
    assert_eq!(r.duplicate_rows, 2);
    assert!(!r.duplicate_rows_approximate);
    assert_eq!(column(&r, "b").top_values[0].value, "x");
    assert_eq!(
        column(&r, "b").max_length,
        Some(1),
        "\\r is not part of the value"
    );
    // Rows match on trimmed values, whatever the quoting, and null tokens are equal.
    let r = profile("a,b\n1,x\n\"1\", x\n1,NA\n1,\n");
    assert_eq!(r.duplicate_rows, 2);
}

#[test]
fn utf8_bom_is_detected_and_stripped() {
    let r = profile_bytes(b"\xEF\xBB\xBFname,v\nx,1\n", &CsvOptions::default()).unwrap();
    assert_eq!(r.encoding, "utf-8-bom");
    assert_eq!(r.columns[0].name, "name");
    assert_eq!(r.bytes, 14);
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        out.extend(if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

#[test]
fn utf16_is_transcoded() {
    let text = "città;n\nZürich;1\nKöln;2\n東京;3\n";
    for (le, name) in [(true, "utf-16le"), (false, "utf-16be")] {
        let r = profile_bytes(&utf16(text, le), &CsvOptions::default()).unwrap();
        assert_eq!(r.encoding, name);
        assert_eq!(r.delimiter, ";");
        assert_eq!(r.rows, 3);
        assert_eq!(r.columns[0].name, "città");
        assert_eq!(r.columns[0].min_length, Some(2), "lengths count characters");
        assert_eq!(r.columns[1].sum, Some(json!(6)));
    }
}

#[test]
fn delimiters_are_sniffed_or_given() {
    for (d, s) in [
        (";", "a;b\n1;2\n"),
        ("\t", "a\tb\n1\t2\n"),
        ("|", "a|b\n1|2\n"),
        (",", "a,b\n1,2\n"),
    ] {
        let r = profile(s);
        assert_eq!(r.delimiter, d);
        assert_eq!(r.column_count, 2);
    }
    let opts = CsvOptions {
        delimiter: Some(b';'),
        ..CsvOptions::default()
    };
    let r = profile_bytes(b"a,b;c\n1,2;3\n", &opts).unwrap();
    assert_eq!(r.delimiter, ";");
    assert_eq!(r.columns[0].name, "a,b");
}

#[test]
fn header_only_gives_named_empty_columns() {
    let r = profile("id,name,when\n");
    assert_eq!(r.rows, 0);
    assert_eq!(r.column_count, 3);
    assert!(r
        .columns
        .iter()
        .all(|c| c.inferred_type == ColumnType::Empty));
    assert_eq!(r.columns[2].name, "when");
    assert_eq!(r.columns[0].min, None);
}

#[test]
fn without_header_columns_are_numbered() {
    let opts = CsvOptions {
        has_header: false,
        ..CsvOptions::default()
    };
    let r = profile_bytes(b"1,a\n2,b\n", &opts).unwrap();
    assert_eq!(r.rows, 2);
    assert_eq!(r.columns[0].name, "column_1");
    assert_eq!(r.columns[0].inferred_type, ColumnType::Integer);
}

#[test]
fn sortedness() {
    let r = profile("up,down,same,mixed,words\n1,3,5,2,apple\n2,2,5,1,banana\n2,1,5,3,cherry\n");
    assert_eq!(column(&r, "up").sortedness, Sortedness::Ascending);
    assert_eq!(column(&r, "down").sortedness, Sortedness::Descending);
    assert_eq!(column(&r, "same").sortedness, Sortedness::Constant);
    assert_eq!(column(&r, "mixed").sortedness, Sortedness::Unsorted);
    assert_eq!(column(&r, "words").sortedness, Sortedness::Ascending);
}

#[test]
fn sketches_take_over_above_the_threshold() {
    let mut text = String::from("v\n");
    for i in 0..5000 {
        text.push_str(&format!("{}\n", i % 2500));
    }
    let opts = CsvOptions {
        exact_threshold: 1000,
        distinct_threshold: 1000,
        ..CsvOptions::default()
    };
    let r = profile_bytes(text.as_bytes(), &opts).unwrap();
    let v = &r.columns[0];
    assert!(v.distinct_approximate);
    assert!((v.distinct_count as f64 - 2500.0).abs() < 100.0);
    assert_eq!(v.quantile_method, Some(QuantileMethod::LogLinearSketch));
    let q = v.quantiles.as_ref().unwrap();
    assert!((q.p50 - 1249.5).abs() / 1249.5 < 0.01, "{}", q.p50);
    assert!(v.histogram.as_ref().unwrap().approximate);
    assert_eq!(
        v.histogram.as_ref().unwrap().counts.iter().sum::<u64>(),
        5000
    );
    // Exact statistics stay exact.
    assert_eq!(v.min, Some(json!(0)));
    assert_eq!(v.max, Some(json!(2499)));
    assert_eq!(v.count, 5000);
    assert!(close(v.mean.unwrap(), 1249.5));
}

/// A file of several chunks whose quoted fields hold line breaks and delimiters, so chunk
/// targets keep landing inside quotes.
fn multi_chunk_csv() -> String {
    let mut text = String::from("id,price,label,note\n");
    for i in 0..20_000u64 {
        let price = (i * 7919 % 10_007) as f64 / 100.0;
        let note = if i % 3 == 0 {
            format!("\"multi\nline, {i}\n\"\"quoted\"\"\"")
        } else {
            format!("plain {}", i % 97)
        };
        text.push_str(&format!("{i},{price},L{},{note}\n", i % 13));
        if i % 4999 == 0 {
            text.push_str("ragged,row\n\n");
        }
    }
    text
}

#[test]
fn parallel_chunked_profile_equals_single_threaded() {
    let text = multi_chunk_csv();
    let base = CsvOptions {
        chunk_bytes: 4096,
        ..CsvOptions::default()
    };
    let single = profile_bytes(
        text.as_bytes(),
        &CsvOptions {
            threads: 1,
            ..base.clone()
        },
    )
    .unwrap();
    let parallel = profile_bytes(
        text.as_bytes(),
        &CsvOptions {
            threads: 4,
            ..base.clone()
        },
    )
    .unwrap();
    assert!(text.len() > 100 * 4096, "the input must span many chunks");
    assert_eq!(single.rows, 20_005);
    assert_eq!(single.ragged_rows, 5);
    assert_eq!(single.blank_lines, 5);
    assert_eq!(without_time(single.clone()), without_time(parallel));

    // One big chunk agrees on everything that does not depend on float summation order.
    let whole = profile_bytes(text.as_bytes(), &CsvOptions::default()).unwrap();
    assert_eq!(whole.rows, single.rows);
    assert_eq!(whole.ragged_examples, single.ragged_examples);
    assert_eq!(whole.duplicate_rows, single.duplicate_rows);
    for (a, b) in whole.columns.iter().zip(&single.columns) {
        assert_eq!(a.count, b.count);
        assert_eq!(a.null_count, b.null_count);
        assert_eq!(a.min, b.min);
        assert_eq!(a.max, b.max);
        assert_eq!(a.distinct_count, b.distinct_count);
        if !a.top_values_approximate {
            // Above the distinct threshold the candidate values depend on the chunking.
            assert_eq!(a.top_values, b.top_values);
        }
        assert_eq!(a.quantiles, b.quantiles);
        assert_eq!(a.sortedness, b.sortedness);
        if let (Some(x), Some(y)) = (a.mean, b.mean) {
            assert!(close(x, y));
        }
    }
    let note = column(&single, "note");
    assert_eq!(note.count, 20_000);
    assert!(note.top_values.iter().all(|t| !t.value.is_empty()));
}

#[test]
fn path_reader_and_bytes_agree() {
    let text = multi_chunk_csv();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.csv");
    std::fs::write(&path, &text).unwrap();
    let opts = CsvOptions::default();
    let from_path = profile_path(&path, &opts).unwrap();
    let from_bytes = profile_bytes(text.as_bytes(), &opts).unwrap();
    let from_reader = profile_reader(text.as_bytes(), &opts).unwrap();
    assert_eq!(without_time(from_path.clone()), without_time(from_bytes));
    assert_eq!(without_time(from_path.clone()), without_time(from_reader));
    use sha2::Digest;
    assert_eq!(
        from_path.sha256,
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    );
    assert_eq!(from_path.bytes, text.len() as u64);
}

/// Hands out a few bytes per read, in a varying pattern, like a slow network stream.
struct Trickle<'a> {
    data: &'a [u8],
    reads: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reads += 1;
        let n = (self.reads * 7919 % 997 + 1)
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn read_sizes_do_not_change_the_report() {
    let text = multi_chunk_csv();
    let opts = CsvOptions {
        chunk_bytes: 8192,
        ..CsvOptions::default()
    };
    let whole = profile_bytes(text.as_bytes(), &opts).unwrap();
    let trickled = profile_reader(
        Trickle {
            data: text.as_bytes(),
            reads: 0,
        },
        &opts,
    )
    .unwrap();
    assert_eq!(without_time(whole), without_time(trickled));
}

#[test]
fn report_json_shape_round_trips() {
    let r = without_time(profile("a,b\n1,x\n2,y\n"));
    let value = serde_json::to_value(&r).unwrap();
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["delimiter"], ",");
    assert_eq!(value["encoding"], "utf-8");
    assert_eq!(value["columns"][0]["inferred_type"], "integer");
    assert_eq!(value["columns"][0]["quantile_method"], "exact_linear");
    assert_eq!(value["columns"][0]["sortedness"], "ascending");
    assert_eq!(value["columns"][1]["inferred_type"], "string");
    assert_eq!(
        value["columns"][1]["top_values"],
        json!([{"value": "x", "count": 1}, {"value": "y", "count": 1}])
    );
    assert_eq!(
        value["methods"]["exact_threshold"],
        r.methods.exact_threshold
    );
    let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    for key in [
        "sha256",
        "rows",
        "column_count",
        "blank_lines",
        "duplicate_rows",
        "ragged_rows",
        "ragged_examples",
        "elapsed_ms",
        "has_header",
        "bytes",
    ] {
        assert!(keys.contains(&key.to_string()), "missing {key}");
    }
    let back: CsvReport = serde_json::from_value(value).unwrap();
    assert_eq!(back, r);
}

#[test]
fn summary_names_every_column() {
    let s = profile("alpha,beta\n1,x\n").summary();
    assert!(s.contains("1 rows x 2 columns"), "{s}");
    assert!(s.contains("alpha") && s.contains("beta"));
}

#[test]
fn empty_inputs_are_refused() {
    for input in [&b""[..], b"\n\n\r\n", b"\xEF\xBB\xBF"] {
        let e = err(input, &CsvOptions::default());
        assert_eq!(e.code(), "csv_empty", "{input:?}");
        assert_eq!(e.http_status(), 422);
        assert!(e.is_read_error());
    }
}

#[test]
fn oversized_inputs_are_refused() {
    let opts = CsvOptions {
        max_bytes: 10,
        ..CsvOptions::default()
    };
    let e = err(b"a,b\n1,2\n3,4\n", &opts);
    assert_eq!((e.code(), e.http_status()), ("csv_too_large", 413));
    assert!(e.to_string().contains("limit of 10 bytes"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
    let e = profile_path(&path, &opts).unwrap_err();
    assert_eq!(e.code(), "csv_too_large");
    let e = profile_reader(&b"a,b\n1,2\n3,4\n"[..], &opts).unwrap_err();
    assert_eq!(e.code(), "csv_too_large");
}

#[test]
fn invalid_utf8_names_the_offset() {
    let e = err(b"a,b\n1,caf\xE9\n", &CsvOptions::default());
    assert_eq!(e.code(), "csv_invalid_utf8");
    assert!(
        matches!(
            e,
            CsvError::InvalidUtf8 {
                offset: 9,
                byte: 0xE9
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("byte 9"), "{e}");
    assert!(e.is_read_error());
    // In a later chunk, with a BOM in front, the offset is still the raw file offset.
    let mut bytes = b"\xEF\xBB\xBFa\n".to_vec();
    bytes.extend(std::iter::repeat_n(b"12345\n", 2000).flatten());
    let at = bytes.len();
    bytes.extend(b"\xFF\n");
    let opts = CsvOptions {
        chunk_bytes: 1024,
        ..CsvOptions::default()
    };
    let e = err(&bytes, &opts);
    assert!(
        matches!(e, CsvError::InvalidUtf8 { offset, .. } if offset == at as u64),
        "{e:?}"
    );
}

#[test]
fn other_encodings_and_broken_quotes_are_refused() {
    let e = err(&[0xFF, 0xFE, 0, 0, b'a', 0, 0, 0], &CsvOptions::default());
    assert_eq!(e.code(), "csv_unsupported_encoding");
    let e = err(
        &[0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'\n', 0],
        &CsvOptions::default(),
    );
    assert_eq!(e.code(), "csv_invalid_utf16");
    let e = err(b"a,b\n1,\"never closed\n2,3\n", &CsvOptions::default());
    assert_eq!(e.code(), "csv_parse");
    assert!(e.to_string().contains("line 2"), "{e}");
    assert!(e.is_read_error());
}

#[test]
fn bad_options_and_missing_files() {
    let opts = CsvOptions {
        delimiter: Some(b'"'),
        ..CsvOptions::default()
    };
    let e = err(b"a\n1\n", &opts);
    assert_eq!((e.code(), e.http_status()), ("csv_invalid_option", 422));
    assert!(!e.is_read_error());
    assert!(e.to_string().contains("delimiter"), "{e}");
    let e = profile_path(
        std::path::Path::new("/nonexistent/x.csv"),
        &CsvOptions::default(),
    )
    .unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("csv_io", 500));
    assert!(e.is_read_error());
    assert!(e.is_retryable());
}

#[test]
fn too_many_columns_are_refused() {
    let header = vec!["c"; assay_csv::MAX_COLUMNS + 1].join(",");
    let e = err(format!("{header}\n").as_bytes(), &CsvOptions::default());
    assert_eq!(e.code(), "csv_too_many_columns");
    assert!(!e.is_read_error());
}
