//! The `intercept` stage on the shard: running a rule's decision on a client message
//! (request.rs) or on a message going to the client (answer.rs), with the waiting both share
//! (hold.rs: `delay`, `pause` until an operator or the timeout decides), and answering the
//! admin API's questions from other shards (mesh.rs).
//!
//! Not here: matching and rewriting messages (crate::pipeline::intercept), the shard's rule
//! set and pause table (the state module's intercept.rs), the admin HTTP endpoints (the admin
//! module's intercept.rs).
//! Hot path: with no rule, a message costs one `RefCell` borrow and an `is_empty` test.

mod answer;
mod hold;
mod mesh;
mod request;
mod stream;

pub use crate::proxy::state::intercept::{
    Decision, InterceptMsg, InterceptShard, Op, Refused, Reply,
};
pub use answer::{is_answer, settle};
pub use mesh::{all_shards, ask, on_mesh, put};
pub use request::{
    answer_scope, begin, defers_note, note_decided, Begun, Hold, Intercepted, Scope,
};
pub use stream::{stream_scope, StreamAnswers};
