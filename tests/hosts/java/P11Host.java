// A small SunPKCS11 host for tests/hosts/test_java.py: signs, decrypts and encrypts with keys on the
// softhsm-py token. Results go to files in the work directory; the Python test checks them with
// pyca/cryptography. Usage: java P11Host CONFIG PIN WORKDIR
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import java.util.Collections;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public class P11Host {
    static Path dir;

    static byte[] read(String name) throws Exception { return Files.readAllBytes(dir.resolve(name)); }

    static void write(String name, byte[] data) throws Exception { Files.write(dir.resolve(name), data); }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p);
        char[] pin = args[1].toCharArray();
        dir = Path.of(args[2]);
        byte[] message = read("message.bin");

        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, pin);
        System.out.println("aliases: " + Collections.list(ks.aliases()));

        // token keys made by keytool -genkeypair: sign (hash in Java, CKM_RSA_PKCS / CKM_ECDSA on the token)
        for (String[] a : new String[][] {{"jrsa", "SHA256withRSA"}, {"jec", "SHA256withECDSA"}}) {
            PrivateKey key = (PrivateKey) ks.getKey(a[0], pin);
            check(key != null, "no private key " + a[0]);
            Signature s = Signature.getInstance(a[1], p);
            s.initSign(key);
            s.update(message);
            write(a[0] + ".sig", s.sign());
            Certificate cert = ks.getCertificate(a[0]);
            Signature v = Signature.getInstance(a[1], p);
            v.initVerify(cert.getPublicKey());
            v.update(message);
            check(v.verify(read(a[0] + ".sig")), "token verify " + a[0]);
        }

        // RSA/ECB/PKCS1Padding: decrypt what Python encrypted; encrypt on the token, decrypt again
        PrivateKey rsa = (PrivateKey) ks.getKey("jrsa", pin);
        Cipher c = Cipher.getInstance("RSA/ECB/PKCS1Padding", p);
        c.init(Cipher.DECRYPT_MODE, rsa);
        write("rsa.pt", c.doFinal(read("rsa.ct")));
        Cipher e = Cipher.getInstance("RSA/ECB/PKCS1Padding", p);
        e.init(Cipher.ENCRYPT_MODE, ks.getCertificate("jrsa").getPublicKey());
        byte[] ct = e.doFinal(message);
        c.init(Cipher.DECRYPT_MODE, rsa);
        check(Arrays.equals(c.doFinal(ct), message), "RSA round trip");

        // AES/CBC/PKCS5Padding under a known key (SunPKCS11 makes it a session object)
        SecretKey known = new SecretKeySpec(read("aes.key"), "AES");
        IvParameterSpec iv = new IvParameterSpec(read("aes.iv"));
        Cipher aes = Cipher.getInstance("AES/CBC/PKCS5Padding", p);
        check(aes.getProvider() == p, "AES from SunPKCS11");
        aes.init(Cipher.ENCRYPT_MODE, known, iv);
        write("aes.ct", aes.doFinal(message));
        aes.init(Cipher.DECRYPT_MODE, known, iv);
        check(Arrays.equals(aes.doFinal(read("aes.ct")), message), "AES known-key round trip");

        // a key generated on the token (template: CKA_CLASS + CKA_VALUE_LEN only)
        KeyGenerator kg = KeyGenerator.getInstance("AES", p);
        kg.init(256);
        SecretKey gen = kg.generateKey();
        aes.init(Cipher.ENCRYPT_MODE, gen, iv);
        byte[] gct = aes.doFinal(message);
        aes.init(Cipher.DECRYPT_MODE, gen, iv);
        check(Arrays.equals(aes.doFinal(gct), message), "AES generated-key round trip");

        // session key pairs (EC: an empty private-key template), signature checked by Python
        KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", p);
        kpg.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair kp = kpg.generateKeyPair();
        Signature s = Signature.getInstance("SHA256withECDSA", p);
        s.initSign(kp.getPrivate());
        s.update(message);
        write("session-ec.sig", s.sign());
        write("session-ec.pub", kp.getPublic().getEncoded());

        KeyPairGenerator rpg = KeyPairGenerator.getInstance("RSA", p);
        rpg.initialize(2048);
        KeyPair rkp = rpg.generateKeyPair();
        s = Signature.getInstance("SHA256withRSA", p);
        s.initSign(rkp.getPrivate());
        s.update(message);
        write("session-rsa.sig", s.sign());
        write("session-rsa.pub", rkp.getPublic().getEncoded());
        System.out.println("P11Host: done");
    }
}
