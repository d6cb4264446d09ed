"""Source text to syntax tree: the grammar's parser, the AST builder, the AST and positions."""
