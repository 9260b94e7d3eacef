"""Avro encoding of `MutationData` record values in both framings, and the schema catalogue."""

from connector.codec.catalogue import (
    CatalogueEntry,
    SchemaCatalogue,
    default_catalogue,
    schema_fingerprint,
)
from connector.codec.errors import CodecError, SchemaRegistryUnavailableError
from connector.codec.framing import Framing, parse_header
from connector.codec.mutation import MutationCodec

__all__ = [
    "CatalogueEntry",
    "CodecError",
    "Framing",
    "MutationCodec",
    "SchemaCatalogue",
    "SchemaRegistryUnavailableError",
    "default_catalogue",
    "parse_header",
    "schema_fingerprint",
]
