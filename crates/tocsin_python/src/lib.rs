pub fn _x(){ let _ = ruff_python_parser::parse_module("x=1"); }
