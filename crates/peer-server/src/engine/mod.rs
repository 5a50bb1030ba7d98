//! The Engine.IO v3 transport shell: long-polling and WebSocket, over the sessions of
//! [`crate::session`] and the glue of [`crate::shared`].

pub mod polling;
pub mod websocket;
pub mod wsframe;
