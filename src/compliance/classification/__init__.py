"""Document classification and field extraction (local rules today; an LLM where configured).

The classifier only says what a document is and what it reads on it; it never decides
whether the document passes: that is the rules' job."""
