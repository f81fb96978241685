//! One test per rule of libtorrent 2.0's `sanitize_append_path_element`; the expected names
//! are what libtorrent 2.0.8 on Linux gives (see tests/tests/metainfo_interop.rs, which checks
//! them against the real library).

use super::*;

fn keep_with(raw: &[u8], rules: PathRules) -> (String, Vec<Sanitization>) {
    match sanitize_component_with(raw, rules) {
        Component::Keep { name, changes } => (name, changes),
        Component::Drop => panic!("{raw:?} dropped"),
    }
}

fn keep(raw: &[u8]) -> (String, Vec<Sanitization>) {
    keep_with(raw, PathRules::Unix)
}

fn name(raw: &[u8]) -> String {
    keep(raw).0
}

#[test]
fn safe_names_are_unchanged() {
    for n in ["movie.mkv", "日本語.txt", "...", ".hidden", "a b", "x..y"] {
        assert_eq!(keep(n.as_bytes()), (n.to_owned(), vec![]), "{n:?}");
    }
}

#[test]
fn dot_and_dot_dot_are_dropped() {
    for raw in [
        &b"."[..],
        b"..",
        b"/",
        b"\\\\",
        b"/..",
        b"\\.",
        b"\xe2\x80\xae",
    ] {
        assert_eq!(
            sanitize_component_with(raw, PathRules::Unix),
            Component::Drop,
            "{raw:?}"
        );
        assert_eq!(
            sanitize_component_with(raw, PathRules::Windows),
            Component::Drop
        );
    }
}

#[test]
fn an_empty_component_becomes_an_underscore() {
    assert_eq!(
        keep(b""),
        ("_".to_owned(), vec![Sanitization::EmptyReplaced])
    );
}

#[test]
fn separators_are_removed_so_nothing_is_absolute() {
    assert_eq!(
        keep(b"/etc"),
        ("etc".to_owned(), vec![Sanitization::Removed])
    );
    assert_eq!(name(b"/etc/passwd"), "etcpasswd");
    assert_eq!(name(b"a\\b"), "ab");
    assert_eq!(name(b"\\\\server\\share"), "servershare");
    assert_eq!(name(b"../../x"), "....x");
    assert_eq!(name(b"C:\\Windows"), "C:Windows");
}

#[test]
fn direction_overrides_are_removed() {
    assert_eq!(
        keep("exe\u{202e}iva.avi".as_bytes()),
        ("exeiva.avi".to_owned(), vec![Sanitization::Removed])
    );
    assert_eq!(name("a\u{200e}b\u{200f}c\u{202a}".as_bytes()), "abc");
}

#[test]
fn control_characters_become_underscores() {
    assert_eq!(
        keep(b"c\x01d\x1f"),
        ("c_d_".to_owned(), vec![Sanitization::InvalidChars])
    );
    assert_eq!(name(b"tab\there"), "tab_here");
    // DEL is kept, as libtorrent 2.0 keeps it.
    assert_eq!(name(b"a\x7f"), "a\x7f");
}

#[test]
fn invalid_utf8_becomes_underscores_sequence_by_sequence() {
    assert_eq!(
        keep(b"\xff\xfez"),
        ("__z".to_owned(), vec![Sanitization::InvalidUtf8])
    );
    // A lead byte promising three bytes takes three, even ASCII ones, as libtorrent does.
    assert_eq!(name(b"\xe6z.txt"), "_txt");
    // Truncated at the end: one `_`.
    assert_eq!(name(b"ab\xe6\x97"), "ab_");
    // Overlong encoding of '/', and a surrogate.
    assert_eq!(name(b"a\xc0\xafb"), "a_b");
    assert_eq!(name(b"a\xed\xa0\x80b"), "a_b");
    // A five-byte lead skips five.
    assert_eq!(name(b"\xf8abcdef"), "_ef");
    assert_eq!(name("é🎵".as_bytes()), "é🎵");
}

#[test]
fn long_names_are_cut_near_240_bytes_keeping_the_extension() {
    let long = format!("{}.mkv", "x".repeat(300));
    let (n, changes) = keep(long.as_bytes());
    assert_eq!(n, format!("{}.mkv", "x".repeat(240)));
    assert_eq!(changes, vec![Sanitization::Truncated]);
    assert_eq!(name("y".repeat(300).as_bytes()), "y".repeat(240));
    // An extension longer than 9 bytes is not one.
    assert_eq!(
        name(format!("{}.extension1", "z".repeat(300)).as_bytes()),
        "z".repeat(240)
    );
    // Multi-byte characters: the cut falls after the character that reaches 240 bytes.
    let n = name(format!("{}.txt", "é".repeat(200)).as_bytes());
    assert_eq!(n, format!("{}.txt", "é".repeat(120)));
    // `_` replacements do not count towards libtorrent's cut; ours stops at 255 bytes.
    let (n, changes) = keep(&[0xff; 1000]);
    assert_eq!(n, "_".repeat(MAX_COMPONENT_LEN));
    assert_eq!(
        changes,
        vec![Sanitization::InvalidUtf8, Sanitization::Truncated]
    );
}

#[test]
fn windows_rules_strip_trailing_dots_and_rename_devices() {
    let w = |raw: &[u8]| keep_with(raw, PathRules::Windows);
    assert_eq!(
        w(b"q:*?<>|\""),
        ("q_______".to_owned(), vec![Sanitization::InvalidChars])
    );
    assert_eq!(
        w(b"name. . "),
        ("name".to_owned(), vec![Sanitization::TrailingDotsOrSpaces])
    );
    assert_eq!(
        w(b"CON"),
        ("_CON".to_owned(), vec![Sanitization::ReservedName])
    );
    assert_eq!(w(b"lpt3.log").0, "_lpt3.log");
    assert_eq!(w(b"com0").0, "_com0");
    assert_eq!(
        w(b"nul."),
        (
            "_nul".to_owned(),
            vec![
                Sanitization::TrailingDotsOrSpaces,
                Sanitization::ReservedName
            ]
        )
    );
    assert_eq!(
        sanitize_component_with(b"...", PathRules::Windows),
        Component::Drop
    );
    // Windows counts characters: 240 of them, whatever their size.
    let n = w(format!("{}.txt", "é".repeat(300)).as_bytes()).0;
    assert_eq!(n, format!("{}.txt", "é".repeat(240)));
    // The same names under Unix rules are kept as they are, as libtorrent on Linux keeps them.
    for n in ["q:*?<>|\"", "name. . ", "CON", "nul."] {
        assert_eq!(keep(n.as_bytes()), (n.to_owned(), vec![]));
    }
}

#[test]
fn every_output_is_a_valid_component() {
    let mut rng = crate::rng::Rng::new(27);
    for _ in 0..20_000 {
        let len = (rng.next_u64() % 12) as usize;
        let raw: Vec<u8> = (0..len)
            .map(|_| {
                let pick = [
                    b'.', b'/', b'\\', b'a', 0, 0xe2, 0x80, 0xae, 0xff, b' ', b':',
                ];
                pick[(rng.next_u64() % pick.len() as u64) as usize]
            })
            .collect();
        for rules in [PathRules::Unix, PathRules::Windows] {
            if let Component::Keep { name, .. } = sanitize_component_with(&raw, rules) {
                assert_eq!(check_component_with(&name, rules), Ok(()), "{raw:?}");
            }
        }
    }
}
