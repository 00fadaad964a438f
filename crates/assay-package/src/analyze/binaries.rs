//! Bundled executables, found by magic bytes: native extension modules in platform wheels
//! and prebuilt `.node` addons are expected; programs under `bin/`, hidden or disguised are
//! how droppers ship their payload.

use crate::archive::Entry;
use crate::{Ecosystem, Finding, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Elf,
    Pe,
    MachO,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Elf => "ELF",
            Format::Pe => "PE (Windows)",
            Format::MachO => "Mach-O",
        }
    }
}

fn format(data: &[u8]) -> Option<Format> {
    match data {
        [0x7f, b'E', b'L', b'F', ..] => Some(Format::Elf),
        [b'M', b'Z', ..] => {
            let at = u32::from_le_bytes(data.get(0x3c..0x40)?.try_into().ok()?) as usize;
            (data.get(at..at.checked_add(4)?)? == b"PE\0\0").then_some(Format::Pe)
        }
        [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..] | [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..] => {
            Some(Format::MachO)
        }
        // Universal binaries share their magic with Java classes, which carry a large
        // version number where the architecture count would be.
        [0xca, 0xfe, 0xba, 0xbe, a, b, c, d, ..] => {
            (u32::from_be_bytes([*a, *b, *c, *d]) < 20).then_some(Format::MachO)
        }
        _ => None,
    }
}

/// A wheel built for one platform (`Root-Is-Purelib: false`), where native modules belong.
pub(super) fn is_platform_wheel(files: &[Entry]) -> bool {
    files.iter().any(|f| {
        f.path.ends_with(".dist-info/WHEEL")
            && String::from_utf8_lossy(&f.data)
                .lines()
                .any(|l| l.trim().eq_ignore_ascii_case("Root-Is-Purelib: false"))
    })
}

const LIBRARY_EXTENSIONS: &[&str] = &[".so", ".pyd", ".dylib", ".dll", ".node"];

pub(super) fn check(ecosystem: Ecosystem, platform_wheel: bool, file: &Entry) -> Vec<Finding> {
    let Some(fmt) = format(&file.data) else {
        return Vec::new();
    };
    let lower = file.path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let library = LIBRARY_EXTENSIONS.iter().any(|e| name.ends_with(e))
        || name.contains(".so.")
        || name.ends_with(".a");
    let in_bin = lower.split('/').any(|d| d == "bin" || d == ".bin");
    let hidden = name.starts_with('.');
    let disguised = [
        ".js", ".py", ".txt", ".json", ".md", ".png", ".jpg", ".gif", ".css", ".html",
    ]
    .iter()
    .any(|e| name.ends_with(e));
    let (rule, severity, why) = if library && !hidden && !in_bin {
        match ecosystem {
            Ecosystem::Pypi if platform_wheel => (
                "binary-native-extension",
                Severity::Info,
                "a native extension module of a platform wheel",
            ),
            Ecosystem::Pypi => (
                "binary-native-extension",
                Severity::Low,
                "a native library in a source or pure-Python distribution",
            ),
            Ecosystem::Npm => (
                "binary-node-addon",
                Severity::Low,
                "a prebuilt native addon",
            ),
        }
    } else if hidden || disguised {
        (
            "binary-executable",
            Severity::High,
            "hidden or named like a non-executable file",
        )
    } else if in_bin {
        (
            "binary-executable",
            Severity::High,
            "a program dropped under bin/",
        )
    } else {
        ("binary-executable", Severity::Medium, "a prebuilt program")
    };
    vec![Finding {
        rule: rule.into(),
        severity,
        message: format!("The file is a {} binary, {why}.", fmt.name()),
        file: Some(file.path.clone()),
        line: None,
        snippet: Some(super::escape_snippet(&String::from_utf8_lossy(
            &file.data[..file.data.len().min(16)],
        ))),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, data: &[u8]) -> Entry {
        Entry {
            path: path.into(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn magic_bytes_and_placement_set_the_severity() {
        let elf = b"\x7fELF\x02\x01\x01\0junkjunk";
        let so = check(
            Ecosystem::Pypi,
            true,
            &entry("numpy/core/_m.cpython-311-x86_64-linux-gnu.so", elf),
        );
        assert_eq!(
            (so[0].rule.as_str(), so[0].severity),
            ("binary-native-extension", Severity::Info)
        );
        let bin = check(Ecosystem::Npm, false, &entry("package/bin/.cache", elf));
        assert_eq!(
            (bin[0].rule.as_str(), bin[0].severity),
            ("binary-executable", Severity::High)
        );
        let addon = check(
            Ecosystem::Npm,
            false,
            &entry("package/build/Release/x.node", elf),
        );
        assert_eq!(addon[0].rule, "binary-node-addon");
        let java = b"\xca\xfe\xba\xbe\0\0\0\x34";
        assert!(check(Ecosystem::Npm, false, &entry("package/A.class", java)).is_empty());
        assert!(check(Ecosystem::Npm, false, &entry("package/MZ.txt", b"MZ hello")).is_empty());
        assert!(bin[0].snippet.as_deref().unwrap().starts_with("\\u{7f}ELF"));
    }
}
