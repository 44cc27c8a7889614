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

/// Checks a name other users see (display name, handle, organization name).
pub fn check_name(text: &str, refuse_mixed_script: bool) -> Result<(), NameError> {
    if text.chars().any(is_hidden) {
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
        for ok in ["Ann Smith", "José García", "李小龍", "Zoë O'Brien-Smith", "Анна"] {
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
