//! The bytes a download sends are checked against what its headers announced: the length
//! always, the SHA-256 when one is announced. The last chunk is held back until the check
//! passes, so a mismatch ends the response short — the client sees a broken transfer,
//! never a clean end with the wrong bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};

type Chunk = Result<Bytes, object_store::Error>;

pub(crate) struct Verified {
    inner: BoxStream<'static, Chunk>,
    key: String,
    remaining: u64,
    sha256: Option<(Sha256, String)>,
    held: Option<Bytes>,
    done: bool,
}

impl Verified {
    pub(crate) fn new(inner: BoxStream<'static, Chunk>, key: &str, length: u64, sha256: Option<String>) -> Self {
        Self {
            inner,
            key: key.to_owned(),
            remaining: length,
            sha256: sha256.map(|hex| (Sha256::new(), hex)),
            held: None,
            done: false,
        }
    }

    fn fail(&mut self, what: &str) -> Poll<Option<Chunk>> {
        self.done = true;
        tracing::error!(key = %self.key, "download cut: {what}");
        let source = format!("the object's bytes do not match its headers ({what})").into();
        Poll::Ready(Some(Err(object_store::Error::Generic { store: "ebb-offload", source })))
    }
}

impl Stream for Verified {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    let Some(left) = this.remaining.checked_sub(chunk.len() as u64) else {
                        return this.fail("longer than announced");
                    };
                    this.remaining = left;
                    match &mut this.sha256 {
                        None => return Poll::Ready(Some(Ok(chunk))),
                        Some((hasher, _)) => {
                            hasher.update(&chunk);
                            if let Some(previous) = this.held.replace(chunk) {
                                return Poll::Ready(Some(Ok(previous)));
                            }
                        }
                    }
                }
                Poll::Ready(None) => {
                    if this.remaining != 0 {
                        return this.fail("shorter than announced");
                    }
                    if let Some((hasher, expected)) = this.sha256.take() {
                        let actual = crate::upload::hex(&hasher.finalize());
                        if actual != expected {
                            return this.fail("SHA-256 differs from the announced one");
                        }
                    }
                    this.done = true;
                    return Poll::Ready(this.held.take().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn stream(chunks: &[&'static [u8]]) -> BoxStream<'static, Chunk> {
        futures_util::stream::iter(chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>()).boxed()
    }

    async fn collect(verified: Verified) -> (Vec<u8>, bool) {
        let mut bytes = Vec::new();
        let mut failed = false;
        let mut verified = std::pin::pin!(verified);
        while let Some(chunk) = verified.next().await {
            match chunk {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(_) => failed = true,
            }
        }
        (bytes, failed)
    }

    fn sha(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[tokio::test]
    async fn matching_bytes_pass_whole() {
        let verified = Verified::new(stream(&[b"hello ", b"world"]), "k", 11, Some(sha(b"hello world")));
        assert_eq!(collect(verified).await, (b"hello world".to_vec(), false));
    }

    #[tokio::test]
    async fn a_wrong_checksum_never_sends_the_last_chunk() {
        let verified = Verified::new(stream(&[b"hello ", b"earth"]), "k", 11, Some(sha(b"hello world")));
        let (sent, failed) = collect(verified).await;
        assert!(failed);
        assert!(sent.len() < 11, "the body must end short: {sent:?}");
    }

    #[tokio::test]
    async fn wrong_lengths_fail() {
        assert!(collect(Verified::new(stream(&[b"abc"]), "k", 5, None)).await.1, "shorter");
        let (sent, failed) = collect(Verified::new(stream(&[b"abc", b"def"]), "k", 4, None)).await;
        assert!(failed && sent.len() <= 4, "longer: {sent:?}");
    }
}
