// Test-only: the Java half of idl/tests/java_interop.rs. It does what a Kaa 0.10 endpoint and
// server do with javax.crypto (RSA/ECB/PKCS1Padding key wrap, SHA1withRSA, AES/ECB/PKCS5Padding,
// PKCS#8 and X.509 key files, SHA-1 key hash) on the files the Rust test wrote, then writes its own
// for the Rust side to check. Run as a single-file program: `java KaaCryptoInterop.java <dir>`.

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;

public class KaaCryptoInterop {
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    KeyFactory rsa = KeyFactory.getInstance("RSA");

    // The Rust server's pair, as key.private / key.public files.
    PrivateKey serverPrivate = rsa.generatePrivate(
        new PKCS8EncodedKeySpec(Files.readAllBytes(dir.resolve("server.key.private"))));
    PublicKey serverPublic = rsa.generatePublic(
        new X509EncodedKeySpec(Files.readAllBytes(dir.resolve("server.key.public"))));
    byte[] plaintext = Files.readAllBytes(dir.resolve("plaintext"));

    // What a Rust endpoint sent: check it as Kaa's server would.
    byte[] rustEndpointKey = Files.readAllBytes(dir.resolve("rust.key.public"));
    PublicKey rustEndpoint = rsa.generatePublic(new X509EncodedKeySpec(rustEndpointKey));
    byte[] wrapped = Files.readAllBytes(dir.resolve("rust.wrapped"));
    Signature verifier = Signature.getInstance("SHA1withRSA");
    verifier.initVerify(rustEndpoint);
    verifier.update(wrapped);
    check(verifier.verify(Files.readAllBytes(dir.resolve("rust.signature"))), "rust signature");
    Cipher unwrap = Cipher.getInstance("RSA/ECB/PKCS1Padding");
    unwrap.init(Cipher.DECRYPT_MODE, serverPrivate);
    SecretKey rustSession = new SecretKeySpec(unwrap.doFinal(wrapped), 0, 16, "AES");
    Cipher aes = Cipher.getInstance("AES/ECB/PKCS5Padding");
    aes.init(Cipher.DECRYPT_MODE, rustSession);
    check(Arrays.equals(aes.doFinal(Files.readAllBytes(dir.resolve("rust.payload"))), plaintext),
        "rust payload");
    check(Arrays.equals(MessageDigest.getInstance("SHA-1").digest(rustEndpoint.getEncoded()),
        Files.readAllBytes(dir.resolve("rust.keyhash"))), "rust key hash");

    // What a Java endpoint sends, for the Rust server to check.
    KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
    generator.initialize(2048);
    KeyPair endpoint = generator.generateKeyPair();
    Files.write(dir.resolve("java.key.private"), endpoint.getPrivate().getEncoded());
    Files.write(dir.resolve("java.key.public"), endpoint.getPublic().getEncoded());
    Files.write(dir.resolve("java.keyhash"),
        MessageDigest.getInstance("SHA-1").digest(endpoint.getPublic().getEncoded()));
    KeyGenerator sessionKeys = KeyGenerator.getInstance("AES");
    sessionKeys.init(128);
    SecretKey session = sessionKeys.generateKey();
    Files.write(dir.resolve("java.session"), session.getEncoded());
    Cipher wrap = Cipher.getInstance("RSA/ECB/PKCS1Padding");
    wrap.init(Cipher.ENCRYPT_MODE, serverPublic);
    byte[] javaWrapped = wrap.doFinal(session.getEncoded());
    Files.write(dir.resolve("java.wrapped"), javaWrapped);
    Signature signer = Signature.getInstance("SHA1withRSA");
    signer.initSign(endpoint.getPrivate());
    signer.update(javaWrapped);
    Files.write(dir.resolve("java.signature"), signer.sign());
    aes.init(Cipher.ENCRYPT_MODE, session);
    Files.write(dir.resolve("java.payload"), aes.doFinal(plaintext));
    // The server's signature over a plain response, as a bootstrap server signs it.
    signer.initSign(serverPrivate);
    signer.update(plaintext);
    Files.write(dir.resolve("java.server.signature"), signer.sign());
    System.out.println("java interop ok");
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      System.err.println("mismatch: " + what);
      System.exit(1);
    }
  }
}
