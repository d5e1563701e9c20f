package jsonvalue

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// benchCases are the conformance skeletons the benchmarks decode and encode.
var benchCases = []string{"spark/basic", "dask/basic", "ray/logs_sidecar_config"}

// BenchmarkDecode compares Decode with encoding/json (a json.Decoder with
// UseNumber, the code it replaces) on conformance skeletons as JSON.
func BenchmarkDecode(b *testing.B) {
	all := skeletons(b)
	for _, name := range benchCases {
		data := all[name]
		require.NotNil(b, data, name)
		b.Run(name+"/jsonvalue", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeObject(data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := stdDecodeObject(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
