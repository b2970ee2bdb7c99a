package node

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Container is what an Image is given to start one container of a Pod.
type Container struct {
	// Image is the container's image reference as written in the Pod.
	Image string
	// Command and Args are the container's command and args, with $(VAR)
	// references already expanded as Kubernetes does. Either may be empty:
	// then the image's own entrypoint applies, which is the Image's business.
	Command, Args []string
	// Pod and Spec are the Pod and the container spec, for Images that need
	// more (read-only).
	Pod  *corev1.Pod
	Spec *corev1.Container
}

// Image turns one container into the local process that plays it. The node
// uses the returned command's Path, Args, Env (as the base environment under
// the container's own variables) and Dir (unless the container sets
// workingDir); it sets everything else itself (stdio, namespaces, process
// group). An error leaves the container waiting with the error as its
// message.
type Image func(c Container) (*exec.Cmd, error)

// Images maps image references to the Images that run them. A key matches a
// container's image reference when it equals it, or is a prefix of it
// followed by ':' (a tag) or '@' (a digest), or ends in '/' (a whole
// repository tree); the longest matching key wins. Keys are compared with the
// reference exactly as the Pod writes it (no docker.io/library/ defaulting):
// map every spelling the manifests use.
type Images map[string]Image

// Lookup returns the Image for an image reference and the key that matched.
func (im Images) Lookup(ref string) (Image, string, bool) {
	best := ""
	var found Image
	for key, img := range im {
		if len(key) <= len(best) || !imageKeyMatches(key, ref) {
			continue
		}
		best, found = key, img
	}
	return found, best, found != nil
}

func imageKeyMatches(key, ref string) bool {
	if key == "" || !strings.HasPrefix(ref, key) {
		return false
	}
	if len(ref) == len(key) || strings.HasSuffix(key, "/") {
		return true
	}
	next := ref[len(key)]
	return next == ':' || next == '@'
}

// Known returns the keys, sorted: what an event lists when an image is not
// known.
func (im Images) Known() []string {
	keys := make([]string, 0, len(im))
	for k := range im {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unknownImageMessage says which image cannot run and what can.
func (im Images) unknownImageMessage(node, container, ref string) string {
	known := im.Known()
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	return fmt.Sprintf("container %q: image %q cannot run on node %s: no local binary is mapped to it (known images: %s); use one of those or add the image to the node's Images",
		container, ref, node, list)
}

// Command is an Image for one binary that plays the image's program: it runs
// path with the container's args. A container command, which in an image
// replaces the entrypoint, names a program inside the image; here its first
// word is replaced by path and the rest precede the args (so "command:
// [/coredns, -conf, /etc/coredns/Corefile]" runs path -conf ...). env is the
// base environment, under the container's own variables.
func Command(path string, env ...string) Image {
	return func(c Container) (*exec.Cmd, error) {
		var args []string
		if len(c.Command) > 0 {
			args = append(args, c.Command[1:]...)
		}
		args = append(args, c.Args...)
		cmd := exec.Command(path, args...)
		cmd.Env = append([]string{}, env...)
		return cmd, cmd.Err
	}
}

// Shell is an Image that runs a container's command with the host's
// programs: command[0] is looked up in PATH as written (a container running
// "/bin/sh -c ..." runs the host's /bin/sh). It suits test images like
// busybox whose manifests spell out the whole command.
func Shell() Image {
	return func(c Container) (*exec.Cmd, error) {
		argv := append(append([]string{}, c.Command...), c.Args...)
		if len(argv) == 0 {
			return nil, fmt.Errorf("image %q runs the container's command with the host's programs, and the container has neither command nor args", c.Image)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		return cmd, cmd.Err
	}
}
