//! pusher: images on the wire, through the registry HTTP API.
