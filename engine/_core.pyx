# cython: language_level=3
"""The compiled hot path of smpp-engine (sans-IO: no sockets, no event loop, no clock).

One extension module assembled from three parts, each in its own file so that each stays
small and has one job:

- ``_pdu.pxi``: SMPP 3.4 PDU classes, encoder, decoder and the stream framer (PduReader);
- ``_text.pxi``: GSM 03.38 / Latin-1 / UCS-2 text codecs and segmentation;
- ``_sched.pxi``: the per-sender rate scheduler.

They are ``include``d (not separate modules) so that the parts call each other at C speed
and the package ships one shared object.
"""

include "_pdu.pxi"
include "_text.pxi"
include "_sched.pxi"
