//! The future of [`SessionService`](crate::SessionService).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::response::Response;
use pin_project_lite::pin_project;

use crate::commit::Commit;
use crate::request::RequestState;
use crate::response::vary_cookie;

/// The rest of a commit that has to wait for the store.
type Finishing = Pin<Box<dyn Future<Output = Response> + Send>>;

pin_project! {
    /// The future of [`SessionService`](crate::SessionService): the inner service's response, then
    /// the saves it calls for. Nothing is boxed unless a session was used.
    ///
    /// Dropped while a commit waits for the store (the client hung up), it
    /// hands the rest of the commit to the tokio runtime, so that a save or
    /// a logout's delete that has started also finishes (each store call is
    /// bounded by the store's timeout).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let StateProj::Finish { future } = this.project().state.project() {
                if let Some(rest) = future.take() {
                    finish_in_background(rest);
                }
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner {
            #[pin]
            future: F,
            request: Option<Arc<RequestState>>,
        },
        Finish {
            // `None` once the response is out.
            future: Option<Finishing>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, request: Arc<RequestState>) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                request: Some(request),
            },
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future, request } => {
                    let response = ready!(future.poll(cx))?;
                    let request = request.take().expect("polled after completion");
                    let slots = std::mem::take(&mut *request.slots());
                    if slots.is_empty() {
                        return Poll::Ready(Ok(response));
                    }
                    if response.status().is_server_error() && !request.layer.save_on_server_error {
                        // The handler failed: none of its session changes
                        // are kept, and the cookies stay as they were.
                        let mut response = response;
                        vary_cookie(response.headers_mut());
                        return Poll::Ready(Ok(response));
                    }
                    let mut commit = Commit::new(request, slots);
                    if commit.run_now() {
                        return Poll::Ready(Ok(commit.respond(response)));
                    }
                    this.state.set(State::Finish {
                        future: Some(Box::pin(
                            async move { commit.run().await.respond(response) },
                        )),
                    });
                }
                StateProj::Finish { future } => {
                    let rest = future.as_mut().expect("polled after completion");
                    let response = ready!(rest.as_mut().poll(cx));
                    *future = None;
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

/// Runs `rest` to its end on the current tokio runtime, if there is one
/// (there is, under axum); its response goes nowhere.
fn finish_in_background(rest: Finishing) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                rest.await;
            });
        }
        Err(_) => tracing::warn!(
            "a session commit was cut short: its response future was dropped outside a tokio runtime"
        ),
    }
}
