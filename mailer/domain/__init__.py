"""Pure domain: content types, validation, recipient and reminder rules. No I/O, no clock."""
