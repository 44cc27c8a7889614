//! Outgoing mail: rendered at the time of the change, stored in the outbox, sent by a worker.
//! The one-time code leads the subject and the first line, so people (and tests) find it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    VerifyEmail,
    SignIn,
    PasswordReset,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::SignIn => "sign_in",
            Self::PasswordReset => "password_reset",
        }
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The mail carrying a one-time code and its link.
pub fn code_mail(purpose: CodePurpose, project_name: &str, code: &str, link: &str, ttl_minutes: u32) -> RenderedMail {
    let (subject, action, ignore) = match purpose {
        CodePurpose::VerifyEmail => (
            format!("{code} is your {project_name} verification code"),
            "confirm your email address",
            "If you did not create an account, you can ignore this mail.",
        ),
        CodePurpose::SignIn => (
            format!("{code} is your {project_name} sign-in code"),
            "sign in",
            "If you did not try to sign in, you can ignore this mail; nobody can sign in without this code.",
        ),
        CodePurpose::PasswordReset => (
            format!("{code} is your {project_name} password reset code"),
            "choose a new password",
            "If you did not ask to reset your password, you can ignore this mail; your password stays as it is.",
        ),
    };
    let text = format!(
        "Your code: {code}\n\nEnter it to {action}, or open this link:\n{link}\n\nThe code expires in {ttl_minutes} minutes. {ignore}\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Your code: <strong style=\"font-size:1.4em;letter-spacing:.1em\">{code}</strong></p>\
         <p>Enter it to {action}, or <a href=\"{link}\">click here</a>.</p>\
         <p style=\"color:#666\">The code expires in {ttl_minutes} minutes. {ignore}</p>\
         <p style=\"color:#666\">{}</p></body></html>",
        escape_html(project_name),
        link = escape_html(link),
    );
    RenderedMail { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_leads_subject_and_first_line() {
        let m = code_mail(CodePurpose::VerifyEmail, "Acme", "123456", "https://a.example/v?token=t", 15);
        assert!(m.subject.starts_with("123456 "));
        assert_eq!(m.text.lines().next(), Some("Your code: 123456"));
        assert!(m.html.contains("https://a.example/v?token=t"));
    }

    #[test]
    fn html_escapes_the_project_name() {
        let m = code_mail(CodePurpose::SignIn, "<script>", "1", "l", 1);
        assert!(!m.html.contains("<script>"));
    }
}
