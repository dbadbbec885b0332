//! The drain layer: counts requests in flight and cuts them at the shutdown deadline.
//!
//! Put it outermost, so that it sees every request the server accepted. From the signal on,
//! every HTTP/1 response it passes carries `Connection: close`, so that keep-alive clients
//! (and L4 balancers such as kube-proxy, which never move a connection) open their next
//! connection to another replica during the delay. A request counts
//! as in flight from the call until its response body ends, so a download or an SSE
//! stream holds the drain as long as it runs — but never past the deadline: then a
//! response not yet produced becomes `503 Service Unavailable` with `Connection: close`,
//! and a body still streaming is aborted (the client sees a broken transfer, never a
//! truncated one that looks complete).
//!
//! # Example
//! ```
//! use ebb_shutdown::{Shutdown, ShutdownConfig};
//! use tower::ServiceBuilder;
//!
//! let shutdown = Shutdown::new(ShutdownConfig::new());
//! let service = ServiceBuilder::new()
//!     .layer(shutdown.layer())
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! # drop(service);
//! ```

mod body;
mod future;
mod layer;
mod service;

pub use body::{BodyCut, DrainBody};
pub use future::ResponseFuture;
pub use layer::DrainLayer;
pub use service::Drain;
