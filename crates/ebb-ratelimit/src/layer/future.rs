use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::limiter::Verdict;
use crate::{Decision, Policy, headers, response};

/// The decision in flight. Boxed: it is a Redis round trip, which dwarfs one allocation
/// (in-process decisions are made in `call`, with no future).
type DecisionFuture = Pin<Box<dyn Future<Output = Verdict> + Send>>;

pin_project! {
    /// Response future of [`RateLimit`](super::RateLimit).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Deciding {
            decision: DecisionFuture,
            inner: Option<S>,
            request: Option<Request<ReqBody>>,
            policy: Arc<Policy>,
            legacy: bool,
        },
        Calling {
            #[pin]
            future: S::Future,
            headers: Option<(Arc<Policy>, Decision, bool)>,
        },
        Answered {
            response: Option<Response<Full<Bytes>>>,
        },
    }
}

/// What a verdict means for the request: call the service (adding these headers to its
/// response), or answer it here.
pub(crate) enum Outcome {
    Call(Option<(Arc<Policy>, Decision, bool)>),
    Answer(Response<Full<Bytes>>),
}

/// The one place verdicts become responses, for synchronous and asynchronous decisions alike.
pub(crate) fn outcome(verdict: Verdict, policy: &Arc<Policy>, legacy: bool) -> Outcome {
    let shadow = policy.is_shadow();
    match verdict {
        Verdict::Allowed(decision) => Outcome::Call((!shadow).then(|| (policy.clone(), decision, legacy))),
        Verdict::Limited(_) | Verdict::FailedOpen | Verdict::FailedClosed if shadow => Outcome::Call(None),
        Verdict::Limited(decision) => Outcome::Answer(response::limited(policy, &decision, legacy)),
        Verdict::FailedOpen => Outcome::Call(None),
        Verdict::FailedClosed => Outcome::Answer(response::unavailable(policy)),
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn deciding(
        decision: DecisionFuture,
        inner: S,
        request: Request<ReqBody>,
        policy: Arc<Policy>,
        legacy: bool,
    ) -> Self {
        Self { state: State::Deciding { decision, inner: Some(inner), request: Some(request), policy, legacy } }
    }

    pub(crate) fn calling(future: S::Future, headers: Option<(Arc<Policy>, Decision, bool)>) -> Self {
        Self { state: State::Calling { future, headers } }
    }

    pub(crate) fn ready(response: Response<Full<Bytes>>) -> Self {
        Self { state: State::Answered { response: Some(response) } }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<Either<Full<Bytes>, ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Deciding { decision, inner, request, policy, legacy } => {
                    let verdict = ready!(decision.as_mut().poll(cx));
                    let headers = match outcome(verdict, policy, *legacy) {
                        Outcome::Call(headers) => headers,
                        Outcome::Answer(answer) => {
                            state.set(State::Answered { response: Some(answer) });
                            continue;
                        }
                    };
                    let (Some(mut inner), Some(request)) = (inner.take(), request.take()) else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let future = inner.call(request);
                    state.set(State::Calling { future, headers });
                }
                StateProj::Calling { future, headers } => {
                    let result = ready!(future.poll(cx));
                    return Poll::Ready(result.map(|mut response| {
                        if let Some((policy, decision, legacy)) = headers.take() {
                            headers::write(response.headers_mut(), &policy, &decision, legacy);
                        }
                        response.map(Either::Right)
                    }));
                }
                StateProj::Answered { response } => {
                    let response = response.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(Either::Left)));
                }
            }
        }
    }
}
