package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline"
)

// manifestTypes are the manifests a registry may hold for a built image.
var manifestTypes = strings.Join([]string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.index.v1+json",
}, ", ")

// splitRef splits repo:tag ("latest" when there is no tag).
func splitRef(ref string) (repo, tag string) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// registryDo sends one request to the registry's HTTP API. A registry that
// cannot be reached is EUNAVAILABLE.
func (b *Backend) registryDo(ctx context.Context, op, method, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+b.registry+"/v2/"+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		b.log.Warn("image registry unreachable", "op", op, "err", err)
		return nil, fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.EUNAVAILABLE, registryUnavailableMessage))
	}
	return resp, nil
}

// HasImage asks the registry for ref's manifest.
func (b *Backend) HasImage(ctx context.Context, ref string) (bool, error) {
	repo, tag := splitRef(ref)
	op := "look up image " + ref
	resp, err := b.registryDo(ctx, op, http.MethodHead, repo+"/manifests/"+tag, manifestTypes)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("%s: the registry answered %s", op, resp.Status)
}

// BuildImage builds the image with the Builder and pushes it to the
// registry. EUNAVAILABLE when the cluster does not answer (the build is not
// tried).
func (b *Backend) BuildImage(ctx context.Context, ref string, buildContext io.Reader, labels map[string]string) error {
	if err := b.Ping(ctx); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	if _, err := b.registryDo(ctx, "build image "+ref+": check the registry", http.MethodGet, "", ""); err != nil {
		return err
	}
	if err := b.builder.BuildImage(ctx, ref, buildContext, labels); err != nil {
		return err
	}
	if err := b.builder.PushImage(ctx, ref, b.image(ref)); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	return nil
}

// manifest returns the digest of repo:tag's manifest and when its image was
// made (zero when the registry does not say).
func (b *Backend) manifest(ctx context.Context, repo, tag string) (string, time.Time, error) {
	op := "read manifest " + repo + ":" + tag
	resp, err := b.registryDo(ctx, op, http.MethodGet, repo+"/manifests/"+tag, manifestTypes)
	if err != nil {
		return "", time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", time.Time{}, nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("%s: the registry answered %s", op, resp.Status)
	}
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&m); err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %w", op, err)
	}
	digest := resp.Header.Get("Docker-Content-Digest")
	if digest == "" || m.Config.Digest == "" {
		return digest, time.Time{}, nil
	}
	cresp, err := b.registryDo(ctx, op, http.MethodGet, repo+"/blobs/"+m.Config.Digest, "")
	if err != nil {
		return "", time.Time{}, err
	}
	defer cresp.Body.Close()
	var cfg struct {
		Created time.Time `json:"created"`
	}
	if cresp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(io.LimitReader(cresp.Body, 4<<20)).Decode(&cfg)
	}
	return digest, cfg.Created, nil
}

// PruneImages deletes from the registry repo's tags not in keep, not used by
// a Pod of the backend, and made before before, then the Builder's local
// copies. A registry deletes manifests by digest, which takes every tag of
// it: a digest that a tag kept shares is kept.
func (b *Backend) PruneImages(ctx context.Context, repo string, keep []string, before time.Time) ([]string, error) {
	op := "prune images " + repo
	resp, err := b.registryDo(ctx, op, http.MethodGet, repo+"/tags/list", "")
	if err != nil {
		return nil, err
	}
	var tags struct {
		Tags []string `json:"tags"`
	}
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&tags)
	}
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return nil, fmt.Errorf("%s: the registry answered %s", op, resp.Status)
	}
	pods, err := b.cs.CoreV1().Pods(b.ns).List(ctx, metav1.ListOptions{LabelSelector: labelPod})
	if err != nil {
		return nil, b.fail(op, err)
	}
	used := map[string]bool{}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			used[c.Image] = true
		}
	}
	type tagged struct{ ref, digest string }
	var drop []tagged
	spared := map[string]bool{} // digests
	for _, tag := range tags.Tags {
		ref := repo + ":" + tag
		digest, created, err := b.manifest(ctx, repo, tag)
		if err != nil {
			return nil, err
		}
		if digest == "" {
			continue
		}
		if slices.Contains(keep, ref) || used[b.image(ref)] || (!before.IsZero() && (created.IsZero() || !created.Before(before))) {
			spared[digest] = true
			continue
		}
		drop = append(drop, tagged{ref, digest})
	}
	var removed []string
	for _, d := range drop {
		if spared[d.digest] {
			continue
		}
		resp, err := b.registryDo(ctx, op, http.MethodDelete, repo+"/manifests/"+d.digest, "")
		if err != nil {
			return removed, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
			return removed, fmt.Errorf("%s: delete %s: the registry answered %s", op, d.ref, resp.Status)
		}
		removed = append(removed, d.ref)
	}
	var local []string
	for _, tag := range tags.Tags {
		if ref := repo + ":" + tag; !slices.Contains(removed, ref) {
			local = append(local, ref)
		}
	}
	if _, err := b.builder.PruneImages(ctx, repo, append(local, keep...), before); err != nil {
		b.log.Warn("prune local images", "repo", repo, "err", err)
	}
	slices.Sort(removed)
	return removed, nil
}
