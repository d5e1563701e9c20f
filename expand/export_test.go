package expand

// SpecFirst is specFirst, for the tests of package expand_test.
var SpecFirst = specFirst
