# Placeholder so the package imports while the codec is written; replaced by the codec commit.
from engine.errors import DecodeError, EncodeError

DEFAULT_MAX_PDU_LENGTH = 65536

class Pdu(object):
    pass

class RequestPdu(Pdu):
    pass

class ResponsePdu(Pdu):
    pass

class _Bind(RequestPdu):
    pass

class BindTransmitter(_Bind):
    pass

class BindReceiver(_Bind):
    pass

class BindTransceiver(_Bind):
    pass

class _BindResp(ResponsePdu):
    pass

class BindTransmitterResp(_BindResp):
    pass

class BindReceiverResp(_BindResp):
    pass

class BindTransceiverResp(_BindResp):
    pass

class Outbind(RequestPdu):
    pass

class _HeaderOnly(Pdu):
    pass

class Unbind(RequestPdu):
    pass

class UnbindResp(ResponsePdu):
    pass

class GenericNack(ResponsePdu):
    pass

class EnquireLink(RequestPdu):
    pass

class EnquireLinkResp(ResponsePdu):
    pass

class CancelSmResp(ResponsePdu):
    pass

class ReplaceSmResp(ResponsePdu):
    pass

class _ShortMessage(RequestPdu):
    pass

class SubmitSm(_ShortMessage):
    pass

class DeliverSm(_ShortMessage):
    pass

class _MessageIdResp(ResponsePdu):
    pass

class SubmitSmResp(_MessageIdResp):
    pass

class DeliverSmResp(_MessageIdResp):
    pass

class DataSmResp(_MessageIdResp):
    pass

class SubmitMulti(RequestPdu):
    pass

class SubmitMultiResp(ResponsePdu):
    pass

class DataSm(RequestPdu):
    pass

class QuerySm(RequestPdu):
    pass

class QuerySmResp(ResponsePdu):
    pass

class CancelSm(RequestPdu):
    pass

class ReplaceSm(RequestPdu):
    pass

class AlertNotification(RequestPdu):
    pass

PDU_CLASSES = {}
TLV_NAMES = {}

def encode(pdu):
    raise NotImplementedError

def encode_many(pdus):
    raise NotImplementedError

def decode(data):
    raise NotImplementedError

class PduReader:
    def __init__(self, max_pdu_length=65536):
        self.max_pdu_length = max_pdu_length
    def feed(self, data):
        raise NotImplementedError
