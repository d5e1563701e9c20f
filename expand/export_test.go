package expand

// SplitObject exposes splitObject to the external tests.
var SplitObject = splitObject
