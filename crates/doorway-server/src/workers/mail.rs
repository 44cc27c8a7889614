//! Mail sender: the rendered message of a mail delivery, over SMTP (lettre).

use async_trait::async_trait;
use doorway_core::mail::RenderedMail;
use doorway_core::webhooks::{Delivery, DeliveryKind};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::settings::SmtpSettings;
use crate::workers::delivery::{SendFailure, Sender};

pub struct MailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl MailSender {
    pub fn new(smtp: &SmtpSettings) -> Result<Self, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url)
            .map_err(|e| format!("smtp.url: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = smtp.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
        Ok(Self { transport: builder.build(), from })
    }
}

#[async_trait]
impl Sender for MailSender {
    fn kind(&self) -> DeliveryKind {
        DeliveryKind::Mail
    }

    /// Every address goes through the one SMTP server.
    fn endpoint<'t>(&self, _target: &'t str) -> Option<&'t str> {
        None
    }

    async fn send(&self, d: &Delivery) -> Result<Option<u16>, SendFailure> {
        let permanent = |error: String| SendFailure { status_code: None, error, permanent: true };
        let mail: RenderedMail =
            serde_json::from_str(&d.body).map_err(|e| permanent(format!("unreadable mail body: {e}")))?;
        let to: Mailbox = d.target.parse().map_err(|e| permanent(format!("bad recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| permanent(format!("cannot build the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(response) => Ok(Some(response.code().into())),
            Err(e) => Err(SendFailure {
                status_code: e.status().map(u16::from),
                permanent: e.is_permanent(),
                error: e.to_string(),
            }),
        }
    }
}
