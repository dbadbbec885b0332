//! The layers between the drain and the application that keep one client, or too many,
//! from holding the service: load shedding, caught panics, and the body-progress timeout.
//! The request timeout and the body size limit are tower-http's, applied in
//! [`Server::serve`](crate::Server::serve) to every route but the streaming ones.

pub(crate) mod body_timeout;
pub(crate) mod panic;
pub(crate) mod shed;

pub use shed::HTTP_REQUESTS_SHED_TOTAL;
