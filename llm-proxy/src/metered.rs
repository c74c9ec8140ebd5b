//! An answer's body on its way to the client, read by a [`UsageTap`] as it passes. When it
//! ends, or the client goes away mid-answer (the body is dropped), the usage so far is handed
//! to `on_end` once: a cut-off answer is paid for what was streamed.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use crate::usage::{Usage, UsageTap};

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

pub struct Metered {
    inner: Body,
    tap: Option<UsageTap>,
    on_end: Option<Box<dyn FnOnce(Usage) + Send>>,
}

impl Metered {
    pub fn new(
        inner: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
        tap: UsageTap,
        on_end: impl FnOnce(Usage) + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(inner),
            tap: Some(tap),
            on_end: Some(Box::new(on_end)),
        }
    }

    fn end(&mut self) {
        if let (Some(tap), Some(on_end)) = (self.tap.take(), self.on_end.take()) {
            on_end(tap.finish());
        }
    }
}

impl Stream for Metered {
    type Item = reqwest::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = this.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(tap) = this.tap.as_mut() {
                    tap.feed(chunk);
                }
            }
            Poll::Ready(Some(Err(_)) | None) => this.end(),
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.end();
    }
}
