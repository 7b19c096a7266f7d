package dmx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCheckWritable: the check passes where a save can write and leaves
// nothing behind; it fails where a save could not.
func TestCheckWritable(t *testing.T) {
	t.Run("new file", func(t *testing.T) {
		dir := t.TempDir()
		if err := CheckWritable(filepath.Join(dir, "state.json")); err != nil {
			t.Fatal(err)
		}
		assertEntries(t, dir)
	})
	t.Run("existing file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, []byte("kept"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := CheckWritable(path); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "kept" {
			t.Errorf("state file holds %q, %v after the check, want it untouched", b, err)
		}
		assertEntries(t, dir, "state.json")
	})
	t.Run("path is a directory", func(t *testing.T) {
		dir := t.TempDir()
		err := CheckWritable(dir)
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("CheckWritable(a directory) = %v, want an error saying so", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		err := CheckWritable(filepath.Join(t.TempDir(), "nope", "state.json"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("CheckWritable = %v, want not exist", err)
		}
	})
	t.Run("directory is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := CheckWritable(filepath.Join(file, "state.json")); !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("CheckWritable = %v, want ENOTDIR", err)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		if f, err := os.CreateTemp(dir, "probe-*"); err == nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			t.Skip("permission bits do not stop this process (root); test.TestUnwritableStateExits2 covers a read-only mount")
		}
		if err := CheckWritable(filepath.Join(dir, "state.json")); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("CheckWritable = %v, want permission denied", err)
		}
	})
}

// assertEntries fails unless dir holds exactly the named entries.
func assertEntries(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}
