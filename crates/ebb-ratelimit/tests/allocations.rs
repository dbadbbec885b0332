//! Allocations per request of the layer with the in-process limiter: at most one (the
//! `RateLimit` header value) for an allowed request.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use ebb_ratelimit::{Limiter, PeerAddr, Policy, RateLimitLayer};
use ebb_testkit::CountingAllocator;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use tower_layer::Layer;
use tower_service::Service;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new();

fn allocations() -> usize {
    GLOBAL.allocations()
}

/// A trivial inner service returning a static response. The responses are made before the
/// count starts: each carries `content-type` (as every handler's response does), so its
/// header map is already allocated, and the count is the layer's own.
#[derive(Clone)]
struct Prebuilt {
    responses: Arc<Mutex<Vec<Response<Full<Bytes>>>>>,
}

impl Prebuilt {
    fn new(count: usize) -> Self {
        let responses = (0..count)
            .map(|_| {
                let mut response = Response::new(Full::new(Bytes::from_static(b"hello\n")));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            })
            .collect();
        Self { responses: Arc::new(Mutex::new(responses)) }
    }
}

impl<B> Service<Request<B>> for Prebuilt {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let response = self.responses.lock().expect("lock").pop().expect("a prebuilt response left");
        ready(Ok(response))
    }
}

/// Requests from one peer, made before the count starts (extensions allocate).
fn requests(count: usize) -> Vec<Request<()>> {
    (0..count)
        .map(|_| {
            let mut request = Request::new(());
            request.extensions_mut().insert(PeerAddr("192.0.2.1:5555".parse().expect("address")));
            request
        })
        .collect()
}

/// Runs one request through `service`: the in-process path must complete at the first poll.
fn run<S: Service<Request<()>, Response = R, Error = Infallible>, R>(service: &mut S, request: Request<()>) -> R {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Pending => panic!("an in-process decision must not wait"),
    }
}

#[test]
fn an_allowed_in_process_request_allocates_at_most_the_ratelimit_value() {
    const WARM_UP: usize = 3;
    const N: usize = 1000;
    // Never limited during the test: a burst far above the requests made.
    let policy = Policy::new("api", "1000000/1s".parse().expect("rate")).with_burst(1_000_000).expect("burst");
    let layer = RateLimitLayer::new(Limiter::in_process()).with_default_policy(policy);
    // Three rounds of N, the fewest allocations counted: the allocator counts every thread
    // of the process, and a loaded machine lets the harness allocate now and then; a cost
    // per request shows in every round.
    const ROUNDS: usize = 3;
    let mut service = layer.layer(Prebuilt::new(WARM_UP + ROUNDS * N));
    let mut requests = requests(WARM_UP + ROUNDS * N);
    let mut responses = Vec::with_capacity(WARM_UP + ROUNDS * N);

    // Warm up the key (its entry in the store), the policy's counters and header parts.
    for request in requests.drain(..WARM_UP) {
        responses.push(run(&mut service, request));
    }

    let mut allocated = usize::MAX;
    for _ in 0..ROUNDS {
        let before = allocations();
        for request in requests.drain(..N) {
            responses.push(run(&mut service, request));
        }
        allocated = allocated.min(allocations() - before);
    }

    assert_eq!(responses.len(), WARM_UP + ROUNDS * N);
    for response in &responses {
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("ratelimit") && response.headers().contains_key("ratelimit-policy"));
    }
    assert!(allocated <= N, "{allocated} allocations for {N} allowed requests (at most one each)");

    // Negative control: the counter does count.
    let before = allocations();
    let vector = std::hint::black_box(Vec::<u8>::with_capacity(16));
    assert!(allocations() > before, "the counting allocator counted nothing");
    drop(vector);
    eprintln!("{allocated} allocations for {N} allowed in-process requests");
}
