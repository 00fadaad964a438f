//! Prints the JSON report for a CSV file:
//! `cargo run --release --example profile -- FILE [--summary] [--threads N] [--exact N] [--chunk BYTES]`.

use std::path::PathBuf;
use std::process::ExitCode;

use assay_csv::CsvOptions;

fn parse_args() -> Result<(PathBuf, bool, CsvOptions), String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut summary = false;
    let mut opts = CsvOptions::default();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            value
                .parse()
                .map_err(|_| format!("{name} takes a number, not {value:?}"))
        };
        match arg.as_str() {
            "--summary" => summary = true,
            "--threads" => opts.threads = number("--threads")?,
            "--exact" => opts.exact_threshold = number("--exact")?,
            "--distinct" => opts.distinct_threshold = number("--distinct")?,
            "--chunk" => opts.chunk_bytes = number("--chunk")?,
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let path =
        path.ok_or("usage: profile FILE [--summary] [--threads N] [--exact N] [--chunk BYTES]")?;
    Ok((path, summary, opts))
}

fn main() -> ExitCode {
    let (path, summary, opts) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match assay_csv::profile_path(&path, &opts) {
        Ok(report) if summary => {
            print!("{}", report.summary());
            ExitCode::SUCCESS
        }
        Ok(report) => match serde_json::to_string_pretty(&report) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("could not serialize the report: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{} ({}): {e}", e.code(), e.http_status());
            ExitCode::FAILURE
        }
    }
}
