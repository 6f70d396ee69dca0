// Messages, frames and socket types are defined with the wire protocol; users of ZMQ get them too.
@_exported import ZMTP
