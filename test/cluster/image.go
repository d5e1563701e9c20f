package cluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"
)

// writeImageArchive writes a docker-style image archive (the format of
// `docker save`, which `ctr images import` reads) holding one image, tag,
// whose only layer is the executable binary at /path, run as entrypoint. It
// is how the pause image reaches containerd without a registry.
func writeImageArchive(out, tag, binary, path string) error {
	data, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("image %s: %w", tag, err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	epoch := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Name: path[1:], Mode: 0o755, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("image %s: layer: %w", tag, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("image %s: layer: %w", tag, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image %s: layer: %w", tag, err)
	}
	layerSum := sha256.Sum256(layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string{path}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(layerSum[:])}},
	})
	if err != nil {
		return fmt.Errorf("image %s: config: %w", tag, err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := hex.EncodeToString(layerSum[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{tag}, "Layers": []string{layerName}}})
	if err != nil {
		return fmt.Errorf("image %s: manifest: %w", tag, err)
	}

	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("image %s: %w", tag, err)
	}
	aw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		if err := aw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			f.Close()
			return fmt.Errorf("image %s: archive: %w", tag, err)
		}
		if _, err := aw.Write(e.data); err != nil {
			f.Close()
			return fmt.Errorf("image %s: archive: %w", tag, err)
		}
	}
	if err := aw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("image %s: archive: %w", tag, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("image %s: %w", tag, err)
	}
	return nil
}
