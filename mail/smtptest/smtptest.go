// Package smtptest runs a real SMTP server on loopback for tests
// (emersion/go-smtp): it speaks the protocol a mail relay speaks (EHLO,
// STARTTLS with a certificate made for the test, AUTH PLAIN, MAIL, RCPT,
// DATA), can refuse messages on demand, and keeps every message it accepts
// parsed into headers and body parts so a test can check each one.
package smtptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// STARTTLS offers STARTTLS with a certificate for 127.0.0.1 and
	// localhost made for this server; Client TLS config: Server.TLSConfig.
	STARTTLS bool
	// Username and Password, when set, make AUTH PLAIN required before MAIL.
	Username, Password string
}

// Message is one accepted message.
type Message struct {
	From     string   // envelope sender (MAIL FROM)
	To       []string // envelope recipients (RCPT TO)
	AuthUser string   // who authenticated, "" if nobody
	TLS      bool     // the transaction ran over TLS
	Raw      []byte   // DATA as received
	Header   mail.Header
	Subject  string            // decoded
	Parts    map[string]string // decoded body by media type ("text/plain", "text/html")
	// ContentType is the top-level media type (e.g. multipart/alternative).
	ContentType string
	ParseErr    error // why Raw did not parse, if it did not
}

// Server is a running SMTP server.
type Server struct {
	Addr      string // 127.0.0.1:port
	Host      string
	Port      int
	TLSConfig *tls.Config // for clients: trusts the server's certificate

	opt  Options
	ln   net.Listener
	srv  *smtp.Server
	mu   sync.Mutex
	msgs []*Message
	fail []*smtp.SMTPError // replies to give to the next DATA commands
	more chan struct{}
	tx   int // transactions that reached DATA, accepted or refused
}

// Start runs a server on a free loopback port until the test ends.
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, opt: opt, ln: ln, more: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	s.srv.Domain = "smtptest.localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = 4 << 20
	s.srv.MaxRecipients = 10
	if opt.STARTTLS {
		serverCfg, clientCfg, err := testCertificates()
		if err != nil {
			tb.Fatalf("smtptest: certificate: %v", err)
		}
		s.srv.TLSConfig = serverCfg
		s.TLSConfig = clientCfg
	}
	go func() { _ = s.srv.Serve(ln) }()
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server: later deliveries fail to connect.
func (s *Server) Close() {
	s.ln.Close() // Serve may not have taken the listener yet
	s.srv.Close()
}

// FailNext makes the next DATA commands answer with these SMTP codes (e.g.
// 451 for a temporary refusal, 550 for a final one), one per message.
func (s *Server) FailNext(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range codes {
		s.fail = append(s.fail, &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{c / 100, 0, 0}, Message: "smtptest refuses this message (" + strconv.Itoa(c) + ")"})
	}
}

// Messages returns the accepted messages so far.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// Transactions counts the messages that reached DATA, refused ones included.
func (s *Server) Transactions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx
}

// Wait returns once n messages were accepted, or fails the test after timeout.
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []*Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if ms := s.Messages(); len(ms) >= n {
			return ms
		}
		select {
		case <-s.more:
		case <-ctx.Done():
			tb.Fatalf("smtptest: %d messages after %s, want %d", len(s.Messages()), timeout, n)
			return nil
		}
	}
}

type session struct {
	s        *Server
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

func (ss *session) authRequired() bool { return ss.s.opt.Username != "" }

func (ss *session) AuthMechanisms() []string {
	if !ss.authRequired() {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		if username != ss.s.opt.Username || password != ss.s.opt.Password {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.authRequired() && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "bad sender address"}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, err := mail.ParseAddress(to); err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "bad recipient address"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	s.tx++
	if len(s.fail) > 0 {
		e := s.fail[0]
		s.fail = s.fail[1:]
		s.mu.Unlock()
		return e
	}
	s.mu.Unlock()
	_, tlsOn := ss.conn.TLSConnectionState()
	m := &Message{From: ss.from, To: append([]string(nil), ss.to...), AuthUser: ss.authUser, TLS: tlsOn, Raw: raw}
	m.parse()
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse fills Header, Subject, ContentType and Parts from Raw.
func (m *Message) parse() {
	m.Parts = map[string]string{}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		m.ParseErr = fmt.Errorf("read message: %w", err)
		return
	}
	m.Header = msg.Header
	var dec mime.WordDecoder
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		m.ParseErr = fmt.Errorf("subject: %w", err)
		return
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		m.ParseErr = fmt.Errorf("content type: %w", err)
		return
	}
	m.ContentType = mt
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := decodeBody(msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		m.Parts[mt], m.ParseErr = body, err
		return
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			m.ParseErr = fmt.Errorf("part: %w", err)
			return
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			m.ParseErr = fmt.Errorf("part content type: %w", err)
			return
		}
		body, err := decodeBody(p.Header.Get("Content-Transfer-Encoding"), p)
		if err != nil {
			m.ParseErr = fmt.Errorf("part %s: %w", pt, err)
			return
		}
		m.Parts[pt] = body
	}
}

func decodeBody(cte string, r io.Reader) (string, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: r})
	case "", "7bit", "8bit", "binary":
	default:
		return "", fmt.Errorf("unknown transfer encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

// newlineStripper drops CR and LF so base64 lines decode as one.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// testCertificates makes a self-signed certificate for 127.0.0.1 and
// localhost, and the client config that trusts it.
func testCertificates() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client, nil
}
