//! Text that can pass for other text: invisible characters, text-direction overrides, and
//! letters of several scripts that look alike (Unicode TS #39 mixed-script detection).

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not contain invisible, control or text-direction characters")]
    HiddenCharacters,
    #[error("must not mix writing systems (such as Latin and Cyrillic letters)")]
    MixedScript,
}

/// Compatibility-normalised and lowercased, so that `ｋim` and `kim` are one value. NFKC runs
/// again after lowercasing because lowercasing can leave text that is not in NFKC.
pub fn fold(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase().nfkc().collect()
}

/// Characters that show nothing, or that change how the text around them is shown: controls,
/// line separators, bidi embeddings, overrides and isolates, and the Unicode default-ignorable
/// code points (zero-width spaces and joiners, soft hyphen, variation selectors, fillers, tags).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c as u32,
            0x00AD
                | 0x034F
                | 0x061C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF0..=0xFFFB
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

/// Emoji and pictographs, which may be joined (U+200D) and styled (U+FE0F) in emoji sequences.
fn is_pictographic(c: char) -> bool {
    matches!(c as u32, 0x2300..=0x23FF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x1F000..=0x1FAFF)
}

/// A joiner or variation selector that only shapes an emoji sequence (`👩‍💻`, `❤️`) hides nothing.
fn shapes_emoji(prev: Option<char>, c: char, next: Option<char>) -> bool {
    let after_emoji = prev.is_some_and(|p| is_pictographic(p) || p == '\u{FE0F}');
    match c {
        '\u{FE0E}' | '\u{FE0F}' => prev.is_some_and(is_pictographic),
        '\u{200D}' => after_emoji && next.is_some_and(is_pictographic),
        _ => false,
    }
}

/// Checks a name other users see (display name, handle, organization name).
pub fn check_name(text: &str, refuse_mixed_script: bool) -> Result<(), NameError> {
    let chars: Vec<char> = text.chars().collect();
    let hidden = chars.iter().enumerate().any(|(i, &c)| {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        is_hidden(c) && !shapes_emoji(prev, c, chars.get(i + 1).copied())
    });
    if hidden {
        return Err(NameError::HiddenCharacters);
    }
    if refuse_mixed_script && !text.is_single_script() {
        return Err(NameError::MixedScript);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn fullwidth_and_case_fold_to_one_value() {
        assert_eq!(fold("ｋim"), "kim");
        assert_eq!(fold("ＫＩＭ"), "kim");
        assert_eq!(fold("ᴬnn"), "ann");
    }

    #[test]
    fn refuses_hidden_characters() {
        for bad in
            ["Ann\u{202E}nnA", "An\u{200B}n", "Ann\u{2066}x", "An\u{00AD}n", "Ann\u{7}", "A\u{FEFF}nn", "Ann\u{E0041}"]
        {
            assert_eq!(check_name(bad, false), Err(NameError::HiddenCharacters), "{bad:?}");
        }
        for bad in ["An\u{200D}n", "\u{200D}👩", "👩\u{200D}", "A\u{FE0F}"] {
            assert_eq!(check_name(bad, false), Err(NameError::HiddenCharacters), "{bad:?}");
        }
        for ok in ["Ann Smith", "José García", "李小龍", "Zoë O'Brien-Smith", "Анна", "Ann 👩‍💻", "Ann ❤️", "👨‍👩‍👧"]
        {
            assert_eq!(check_name(ok, true), Ok(()), "{ok}");
        }
    }

    #[test]
    fn mixed_scripts_only_when_asked() {
        // Cyrillic 'а' (U+0430) among Latin letters.
        let spoof = "p\u{0430}ypal";
        assert_eq!(check_name(spoof, false), Ok(()));
        assert_eq!(check_name(spoof, true), Err(NameError::MixedScript));
        assert_eq!(check_name("山田 たろう", true), Ok(()), "Han with Hiragana is one writing system");
    }

    proptest! {
        #[test]
        fn folding_is_idempotent(s in "\\PC*") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn folding_is_idempotent_on_compatibility_characters(s in "[\u{FF01}-\u{FF5E}\u{1D400}-\u{1D4FF}\u{2460}-\u{24FF}\u{1D2C}-\u{1D6A}A-Za-zİıẞß]{0,12}") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once);
        }
    }
}
