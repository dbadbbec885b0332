//! The request a thread is working for, so that every line logged for it carries its
//! request id and trace id without a `tracing` span per request.
//!
//! A live span costs about as much as the rest of the edge together (it is built, entered
//! and closed through the subscriber on every request, whatever is logged). Instead the
//! edge moves the request's context into a thread-local slot while it polls the request
//! (two moves of a small struct, no atomics, no allocation), and ebb's log format
//! ([`super::format`]) reads it only when a line is written. Work a handler spawns onto
//! other tasks runs outside that context, as it would outside an un-instrumented span.

use std::cell::RefCell;

use crate::trace::RequestId;

/// What a log line says about its request.
#[derive(Debug)]
pub(crate) struct LogContext {
    pub(crate) request_id: RequestId,
    /// The caller's W3C trace id (32 hex digits), when it sent a `traceparent`.
    pub(crate) trace_id: Option<Box<str>>,
}

thread_local! {
    static CURRENT: RefCell<Option<LogContext>> = const { RefCell::new(None) };
}

/// Runs `f` with `context` as this thread's current request; `context` is back in place
/// afterwards, also when `f` panics.
pub(crate) fn scoped<T>(context: &mut Option<LogContext>, f: impl FnOnce() -> T) -> T {
    struct Restore<'a>(&'a mut Option<LogContext>);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            swap(self.0);
        }
    }
    fn swap(slot: &mut Option<LogContext>) {
        CURRENT.with(|current| {
            if let Ok(mut current) = current.try_borrow_mut() {
                std::mem::swap(&mut *current, slot);
            }
        });
    }
    swap(context);
    let _restore = Restore(context);
    f()
}

/// Calls `f` with the current request's context, if the thread is working for one.
pub(crate) fn with_current<T>(f: impl FnOnce(Option<&LogContext>) -> T) -> T {
    CURRENT.with(|current| match current.try_borrow() {
        Ok(current) => f(current.as_ref()),
        Err(_) => f(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(id: &str) -> Option<LogContext> {
        let mut headers = http::HeaderMap::new();
        headers.insert(crate::trace::X_REQUEST_ID, id.parse().expect("value"));
        Some(LogContext { request_id: RequestId::of(&headers).0, trace_id: None })
    }

    fn current_id() -> Option<String> {
        with_current(|context| context.map(|context| context.request_id.to_string()))
    }

    #[test]
    fn the_context_is_current_only_inside_and_nests() {
        let (mut outer, mut inner) = (context("outer"), context("inner"));
        assert_eq!(current_id(), None);
        scoped(&mut outer, || {
            assert_eq!(current_id().as_deref(), Some("outer"));
            scoped(&mut inner, || assert_eq!(current_id().as_deref(), Some("inner")));
            assert_eq!(current_id().as_deref(), Some("outer"));
        });
        assert_eq!(current_id(), None);
        assert!(outer.is_some() && inner.is_some(), "both contexts are given back");
    }

    #[test]
    fn a_panic_inside_leaves_no_context_behind() {
        let mut request = context("panicked");
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scoped(&mut request, || panic!("boom"))));
        assert!(caught.is_err());
        assert_eq!(current_id(), None);
        assert!(request.is_some());
    }
}
