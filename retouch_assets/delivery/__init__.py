"""Channel renditions and web delivery: resize, encode (AVIF, WebP, JPEG) within a byte budget
and a quality floor, and the web delivery manifest (srcset, alt text, JSON-LD). Pure logic, no
Dagster import; `retouch_assets.defs.delivery` wires it into the week's graph."""
