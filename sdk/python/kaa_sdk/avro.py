"""Avro binary encoding driven by type descriptors, for Kaa's protocol messages and the
application's generated classes.

A type descriptor is one of:

- a primitive name: ``"null"``, ``"boolean"``, ``"int"``, ``"long"``, ``"float"``,
  ``"double"``, ``"bytes"``, ``"string"``;
- :class:`Array` (items), :class:`Map` (string keys), :class:`Union` (branches in order),
  :class:`Fixed` (a size; values are ``bytes`` of that length);
- a record class: a class with ``_avro_name`` and ``_avro_fields``, a list of
  ``(attribute, avro field name, descriptor)`` in schema order (generated dataclasses);
- an enum class: an :class:`enum.Enum` subclass with ``_avro_name`` and ``_avro_symbols``
  whose member values are the symbol indexes.

Values are plain Python: ``None``, ``bool``, ``int``, ``float``, ``bytes``, ``str``, lists,
dicts, enum members and record instances. A union value is written with the first branch
that accepts it (``None`` takes ``"null"``, an ``int`` the first of ``int``/``long``/``float``/
``double``, ``bytes`` the first ``bytes`` or ``Fixed`` of its length, and so on).

The reader checks every length against the input, so hostile bytes raise :class:`AvroError`,
never anything else.
"""

import enum
import json
import struct

__all__ = [
    "AvroError",
    "Array",
    "Map",
    "Union",
    "Fixed",
    "Writer",
    "Reader",
    "encode",
    "decode",
    "to_json",
    "Record",
]

_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


class AvroError(ValueError):
    """Bytes that are not a value of the expected type, or a value that does not fit its type."""


class Array:
    """``{"type": "array", "items": ...}``."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items


class Map:
    """``{"type": "map", "values": ...}``."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values


class Union:
    """A union of its branches, in order (the branch index is on the wire)."""

    __slots__ = ("branches",)

    def __init__(self, branches):
        self.branches = list(branches)


class Fixed:
    """A named fixed-size byte string."""

    __slots__ = ("name", "size")

    def __init__(self, name, size):
        self.name = name
        self.size = size


class Writer:
    """Appends Avro-encoded values to a buffer."""

    def __init__(self):
        self.buffer = bytearray()

    def long(self, value):
        value = (value << 1) ^ (value >> 63)
        while value >= 0x80:
            self.buffer.append((value & 0x7F) | 0x80)
            value >>= 7
        self.buffer.append(value)

    def boolean(self, value):
        self.buffer.append(1 if value else 0)

    def float(self, value):
        self.buffer += struct.pack("<f", value)

    def double(self, value):
        self.buffer += struct.pack("<d", value)

    def bytes(self, value):
        self.long(len(value))
        self.buffer += value

    def string(self, value):
        self.bytes(value.encode("utf-8"))


class Reader:
    """Reads Avro-encoded values from bytes."""

    def __init__(self, data):
        self.data = memoryview(bytes(data))
        self.position = 0

    def _take(self, n, what):
        end = self.position + n
        if end > len(self.data):
            raise AvroError(f"input ends inside {what}")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def long(self):
        value = 0
        shift = 0
        while True:
            if shift > 63:
                raise AvroError("varint too long for long")
            byte = self._take(1, "long")[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        value &= (1 << 64) - 1
        return (value >> 1) ^ -(value & 1)

    def int(self):
        value = self.long()
        if not _INT_MIN <= value <= _INT_MAX:
            raise AvroError("varint too long for int")
        return value

    def boolean(self):
        byte = self._take(1, "boolean")[0]
        if byte > 1:
            raise AvroError(f"boolean byte {byte:#04x} is neither 0 nor 1")
        return byte == 1

    def float(self):
        return struct.unpack("<f", self._take(4, "float"))[0]

    def double(self):
        return struct.unpack("<d", self._take(8, "double"))[0]

    def bytes(self):
        length = self.long()
        if length < 0 or length > len(self.data) - self.position:
            raise AvroError(f"invalid length {length} for bytes")
        return bytes(self._take(length, "bytes"))

    def string(self):
        try:
            return self.bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise AvroError("string is not valid UTF-8") from None

    def count(self):
        """The item count of an array or map block (a negative count carries a byte size)."""
        count = self.long()
        if count < 0:
            count = -count
            self.long()
        # An item takes at least one byte unless its type is empty (null, a record without
        # fields): bound the count by what is left, with room for a few empty items.
        if count > len(self.data) - self.position + 65536:
            raise AvroError(f"invalid block count {count}")
        return count

    def remaining(self):
        return len(self.data) - self.position


def _is_record(descriptor):
    return isinstance(descriptor, type) and hasattr(descriptor, "_avro_fields")


def _is_enum(descriptor):
    return isinstance(descriptor, type) and issubclass(descriptor, enum.Enum)


def _accepts(descriptor, value):
    """Whether ``value`` can be written as ``descriptor`` (used to pick a union branch)."""
    if isinstance(descriptor, str):
        if descriptor == "null":
            return value is None
        if descriptor == "boolean":
            return isinstance(value, bool)
        if descriptor == "int":
            return isinstance(value, int) and not isinstance(value, bool) and _INT_MIN <= value <= _INT_MAX
        if descriptor == "long":
            return isinstance(value, int) and not isinstance(value, bool) and _LONG_MIN <= value <= _LONG_MAX
        if descriptor in ("float", "double"):
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if descriptor == "bytes":
            return isinstance(value, (bytes, bytearray))
        if descriptor == "string":
            return isinstance(value, str)
        raise AvroError(f"unknown primitive type {descriptor!r}")
    if isinstance(descriptor, Fixed):
        return isinstance(value, (bytes, bytearray)) and len(value) == descriptor.size
    if isinstance(descriptor, Array):
        return isinstance(value, (list, tuple))
    if isinstance(descriptor, Map):
        return isinstance(value, dict)
    if isinstance(descriptor, Union):
        return any(_accepts(branch, value) for branch in descriptor.branches)
    return isinstance(value, descriptor)


def write(writer, descriptor, value, where="value"):
    """Writes ``value`` as ``descriptor``; raises :class:`AvroError` when it does not fit."""
    try:
        _write(writer, descriptor, value, where)
    except AvroError:
        raise
    except (TypeError, ValueError, OverflowError, struct.error, AttributeError) as error:
        raise AvroError(f"{where}: {error}") from None


def _write(writer, descriptor, value, where):
    if isinstance(descriptor, str):
        if not _accepts(descriptor, value):
            raise AvroError(f"{where}: {value!r} is not a {descriptor}")
        if descriptor == "null":
            return
        if descriptor == "boolean":
            writer.boolean(value)
        elif descriptor in ("int", "long"):
            writer.long(value)
        elif descriptor == "float":
            writer.float(float(value))
        elif descriptor == "double":
            writer.double(float(value))
        elif descriptor == "bytes":
            writer.bytes(bytes(value))
        else:
            writer.string(value)
    elif isinstance(descriptor, Union):
        for index, branch in enumerate(descriptor.branches):
            if _accepts(branch, value):
                writer.long(index)
                _write(writer, branch, value, where)
                return
        raise AvroError(f"{where}: {value!r} fits no branch of the union")
    elif isinstance(descriptor, Array):
        if not isinstance(value, (list, tuple)):
            raise AvroError(f"{where}: {value!r} is not a list")
        if value:
            writer.long(len(value))
            for index, item in enumerate(value):
                _write(writer, descriptor.items, item, f"{where}[{index}]")
        writer.long(0)
    elif isinstance(descriptor, Map):
        if not isinstance(value, dict):
            raise AvroError(f"{where}: {value!r} is not a dict")
        if value:
            writer.long(len(value))
            for key, item in value.items():
                if not isinstance(key, str):
                    raise AvroError(f"{where}: map key {key!r} is not a string")
                writer.string(key)
                _write(writer, descriptor.values, item, f"{where}[{key!r}]")
        writer.long(0)
    elif isinstance(descriptor, Fixed):
        if not _accepts(descriptor, value):
            raise AvroError(f"{where}: {descriptor.name} takes exactly {descriptor.size} bytes")
        writer.buffer += value
    elif _is_enum(descriptor):
        if not isinstance(value, descriptor):
            raise AvroError(f"{where}: {value!r} is not a {descriptor.__name__}")
        writer.long(value.value)
    elif _is_record(descriptor):
        if not isinstance(value, descriptor):
            raise AvroError(f"{where}: {value!r} is not a {descriptor.__name__}")
        for attribute, _name, field_type in descriptor._avro_fields:
            _write(writer, field_type, getattr(value, attribute), f"{where}.{attribute}")
    else:
        raise AvroError(f"{where}: unknown type descriptor {descriptor!r}")


def read(reader, descriptor):
    """Reads one value of ``descriptor``."""
    if isinstance(descriptor, str):
        if descriptor == "null":
            return None
        if descriptor == "boolean":
            return reader.boolean()
        if descriptor == "int":
            return reader.int()
        if descriptor == "long":
            return reader.long()
        if descriptor == "float":
            return reader.float()
        if descriptor == "double":
            return reader.double()
        if descriptor == "bytes":
            return reader.bytes()
        if descriptor == "string":
            return reader.string()
        raise AvroError(f"unknown primitive type {descriptor!r}")
    if isinstance(descriptor, Union):
        index = reader.long()
        if not 0 <= index < len(descriptor.branches):
            raise AvroError(f"union branch {index} does not exist")
        return read(reader, descriptor.branches[index])
    if isinstance(descriptor, Array):
        items = []
        while True:
            count = reader.count()
            if count == 0:
                return items
            for _ in range(count):
                items.append(read(reader, descriptor.items))
    if isinstance(descriptor, Map):
        entries = {}
        while True:
            count = reader.count()
            if count == 0:
                return entries
            for _ in range(count):
                key = reader.string()
                entries[key] = read(reader, descriptor.values)
    if isinstance(descriptor, Fixed):
        return bytes(reader._take(descriptor.size, descriptor.name))
    if _is_enum(descriptor):
        index = reader.long()
        if not 0 <= index < len(descriptor._avro_symbols):
            raise AvroError(f"enum {descriptor._avro_name} has no symbol {index}")
        return descriptor(index)
    if _is_record(descriptor):
        values = {}
        for attribute, _name, field_type in descriptor._avro_fields:
            values[attribute] = read(reader, field_type)
        return descriptor(**values)
    raise AvroError(f"unknown type descriptor {descriptor!r}")


def encode(descriptor, value):
    """``value`` as Avro binary of ``descriptor``."""
    writer = Writer()
    write(writer, descriptor, value, getattr(descriptor, "__name__", "value"))
    return bytes(writer.buffer)


def decode(descriptor, data, exact=True):
    """The value of ``descriptor`` in ``data``; with ``exact``, bytes left over are an error."""
    reader = Reader(data)
    value = read(reader, descriptor)
    if exact and reader.remaining():
        raise AvroError(f"{reader.remaining()} bytes left after the value")
    return value


def _branch_name(descriptor):
    if isinstance(descriptor, str):
        return descriptor
    if isinstance(descriptor, Array):
        return "array"
    if isinstance(descriptor, Map):
        return "map"
    if isinstance(descriptor, Fixed):
        return descriptor.name
    return descriptor._avro_name


def to_json(descriptor, value):
    """``value`` in Avro's JSON form as Python data for :func:`json.dumps` (a union value as
    ``{"branch": value}``, bytes as a string of code points U+0000..U+00FF)."""
    if isinstance(descriptor, str):
        if descriptor == "bytes":
            return bytes(value).decode("latin-1")
        if descriptor in ("float", "double"):
            return float(value)
        return value
    if isinstance(descriptor, Union):
        for branch in descriptor.branches:
            if _accepts(branch, value):
                if branch == "null":
                    return None
                return {_branch_name(branch): to_json(branch, value)}
        raise AvroError(f"{value!r} fits no branch of the union")
    if isinstance(descriptor, Array):
        return [to_json(descriptor.items, item) for item in value]
    if isinstance(descriptor, Map):
        return {key: to_json(descriptor.values, item) for key, item in value.items()}
    if isinstance(descriptor, Fixed):
        return bytes(value).decode("latin-1")
    if _is_enum(descriptor):
        return descriptor._avro_symbols[value.value]
    return {
        name: to_json(field_type, getattr(value, attribute))
        for attribute, name, field_type in descriptor._avro_fields
    }


class Record:
    """Base of generated record classes (dataclasses with ``_avro_name`` and ``_avro_fields``)."""

    def to_bytes(self):
        """The record as Avro binary."""
        return encode(type(self), self)

    @classmethod
    def from_bytes(cls, data):
        """The record in ``data`` (Avro binary); :class:`AvroError` when it is not one."""
        return decode(cls, data)

    def to_avro_json(self):
        """The record in Avro's JSON form, as Python data."""
        return to_json(type(self), self)

    def to_json(self):
        """The record in Avro's JSON form, as one line of JSON text."""
        return json.dumps(self.to_avro_json(), separators=(",", ":"))
