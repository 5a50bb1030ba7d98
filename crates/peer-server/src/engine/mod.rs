//! The Engine.IO v3 transport shell: sessions, long-polling and WebSocket.

pub mod polling;
pub mod session;
pub mod websocket;
pub mod wsframe;
