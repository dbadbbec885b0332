//! Panics in handlers become 500 responses, counted by the metrics layer outside, and logged
//! once, with the route, the location and the message. The panic hook (installed once per
//! process) keeps the default stderr message for panics outside requests only.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::Once;

thread_local! {
    /// Whether this thread is polling a request's handler right now.
    static IN_REQUEST: Cell<bool> = const { Cell::new(false) };
    /// Where and why the last handler panic on this thread happened, for its log line.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook once per process.
pub(crate) fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_REQUEST.with(Cell::get) {
                let location = info.location().map(ToString::to_string).unwrap_or_default();
                let text = format!("{} at {location}", payload_text(info.payload()));
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Polls a handler with panics caught; `Err` carries nothing but the fact: the log line is
/// written here, with `route`.
pub(crate) fn catch<T>(route: &str, poll: impl FnOnce() -> T) -> Result<T, ()> {
    let outer = IN_REQUEST.with(|flag| flag.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(poll));
    IN_REQUEST.with(|flag| flag.set(outer));
    result.map_err(|payload: Box<dyn Any + Send>| {
        let panic =
            LAST_PANIC.with(|last| last.borrow_mut().take()).unwrap_or_else(|| payload_text(&*payload).to_owned());
        tracing::error!(%route, %panic, "handler panicked; answered 500");
    })
}

fn payload_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
