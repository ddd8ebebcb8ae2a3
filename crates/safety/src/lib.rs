//! Child-safety screening (see spec 09). Built out in issue 5.
